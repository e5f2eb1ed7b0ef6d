#include "mirror/acl_sync.h"

#include <algorithm>

namespace ferry::mirror {

namespace {
constexpr int kTopic = 2, kLiteral = 3, kAll = 2, kRead = 3, kWrite = 4, kAllow = 3;
}  // namespace

std::vector<client::AclBinding> target_topic_acls(const std::vector<client::AclBinding>& source_acls,
                                                  const std::map<std::string, std::string>& remote_topic_of) {
  std::vector<client::AclBinding> out;
  for (const auto& b : source_acls) {
    if (b.resource_type != kTopic || b.pattern_type != kLiteral || b.permission != kAllow || b.operation == kWrite)
      continue;
    auto it = remote_topic_of.find(b.resource_name);
    if (it == remote_topic_of.end()) continue;
    client::AclBinding t = b;
    t.resource_name = it->second;
    if (t.operation == kAll) t.operation = kRead;
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace ferry::mirror
