// SASL on the Kafka protocol and SCRAM credential administration. Sources: Kafka message schemas
// SaslHandshake{Request,Response}.json (key 17, v0–1; KIP-43: v0 is followed by raw
// length-prefixed tokens, v1 by SaslAuthenticate), SaslAuthenticate{Request,Response}.json (key 36,
// v0–2, flexible from 2; KIP-152; v1 adds session_lifetime_ms, KIP-368),
// DescribeUserScramCredentials / AlterUserScramCredentials (keys 50 and 51, v0, flexible; KIP-554).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct SaslHandshakeResponse {
  ErrorCode error_code = ErrorCode::NONE;
  std::vector<std::string> mechanisms;  // the mechanisms enabled on this listener
  template <class V>
  void visit(V& v) {
    v(error_code, 0);
    v(mechanisms, 0);
  }
  bool operator==(const SaslHandshakeResponse&) const = default;
};

struct SaslHandshakeRequest {
  static constexpr int16_t api_key = 17, min_version = 0, max_version = 1, flexible_from = 99;
  static constexpr const char* name = "SaslHandshake";
  using Response = SaslHandshakeResponse;
  std::string mechanism;
  template <class V>
  void visit(V& v) {
    v(mechanism, 0);
  }
  bool operator==(const SaslHandshakeRequest&) const = default;
};

struct SaslAuthenticateResponse {
  ErrorCode error_code = ErrorCode::NONE;
  std::optional<std::string> error_message;
  Bytes auth_bytes;
  int64_t session_lifetime_ms = 0;  // v1+: 0 = no limit (KIP-368)
  template <class V>
  void visit(V& v) {
    v(error_code, 0);
    v(error_message, 0);
    v(auth_bytes, 0);
    v(session_lifetime_ms, 1);
  }
  bool operator==(const SaslAuthenticateResponse&) const = default;
};

struct SaslAuthenticateRequest {
  static constexpr int16_t api_key = 36, min_version = 0, max_version = 2, flexible_from = 2;
  static constexpr const char* name = "SaslAuthenticate";
  using Response = SaslAuthenticateResponse;
  Bytes auth_bytes;
  template <class V>
  void visit(V& v) {
    v(auth_bytes, 0);
  }
  bool operator==(const SaslAuthenticateRequest&) const = default;
};

struct DescribeUserScramCredentialsResponse {
  struct CredentialInfo {
    int8_t mechanism = 0;  // 1 SCRAM-SHA-256, 2 SCRAM-SHA-512
    int32_t iterations = 0;
    template <class V>
    void visit(V& v) {
      v(mechanism, 0);
      v(iterations, 0);
    }
    bool operator==(const CredentialInfo&) const = default;
  };
  struct Result {
    std::string user;
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    std::vector<CredentialInfo> credential_infos;
    template <class V>
    void visit(V& v) {
      v(user, 0);
      v(error_code, 0);
      v(error_message, 0);
      v(credential_infos, 0);
    }
    bool operator==(const Result&) const = default;
  };
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  std::optional<std::string> error_message;
  std::vector<Result> results;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(error_code, 0);
    v(error_message, 0);
    v(results, 0);
  }
  bool operator==(const DescribeUserScramCredentialsResponse&) const = default;
};

struct DescribeUserScramCredentialsRequest {
  static constexpr int16_t api_key = 50, min_version = 0, max_version = 0, flexible_from = 0;
  static constexpr const char* name = "DescribeUserScramCredentials";
  using Response = DescribeUserScramCredentialsResponse;
  struct UserName {
    std::string name;
    template <class V>
    void visit(V& v) {
      v(name, 0);
    }
    bool operator==(const UserName&) const = default;
  };
  std::optional<std::vector<UserName>> users;  // null: every user with a credential
  template <class V>
  void visit(V& v) {
    v(users, 0);
  }
  bool operator==(const DescribeUserScramCredentialsRequest&) const = default;
};

struct AlterUserScramCredentialsResponse {
  struct Result {
    std::string user;
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    template <class V>
    void visit(V& v) {
      v(user, 0);
      v(error_code, 0);
      v(error_message, 0);
    }
    bool operator==(const Result&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<Result> results;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(results, 0);
  }
  bool operator==(const AlterUserScramCredentialsResponse&) const = default;
};

struct AlterUserScramCredentialsRequest {
  static constexpr int16_t api_key = 51, min_version = 0, max_version = 0, flexible_from = 0;
  static constexpr const char* name = "AlterUserScramCredentials";
  using Response = AlterUserScramCredentialsResponse;
  struct Deletion {
    std::string name;
    int8_t mechanism = 0;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(mechanism, 0);
    }
    bool operator==(const Deletion&) const = default;
  };
  struct Upsertion {
    std::string name;
    int8_t mechanism = 0;
    int32_t iterations = 0;
    Bytes salt;
    Bytes salted_password;  // Hi(password, salt, iterations), derived by the client (RFC 5802)
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(mechanism, 0);
      v(iterations, 0);
      v(salt, 0);
      v(salted_password, 0);
    }
    bool operator==(const Upsertion&) const = default;
  };
  std::vector<Deletion> deletions;
  std::vector<Upsertion> upsertions;
  template <class V>
  void visit(V& v) {
    v(deletions, 0);
    v(upsertions, 0);
  }
  bool operator==(const AlterUserScramCredentialsRequest&) const = default;
};

}  // namespace ferry::protocol
