// common/hash_chain: what an operator verifying an audit log relies on — tampering reported at the
// right file and line, rotation and restarts keeping one chain, a torn write reported as such.
#include "common/hash_chain.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/testing/temp_dir.h"

namespace ferry::hash_chain {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}
void write_lines(const fs::path& p, const std::vector<std::string>& ls) {
  std::ofstream out(p, std::ios::trunc);
  for (const auto& l : ls) out << l << "\n";
}

class HashChainTest : public ::testing::Test {
 protected:
  fs::path file() const { return tmp_.path / "logs" / "audit.log"; }
  fs::path anchor() const { return tmp_.path / "anchor.json"; }
  void write(int n, int64_t max_bytes = 0, int max_files = 10, int from = 0) {
    ChainWriter w({file(), anchor(), max_bytes, max_files});
    for (int i = from; i < from + n; ++i) w.append({json{{"i", i}, {"what", "event"}}});
  }
  VerifyResult verify_one(bool with_anchor = true) {
    VerifyOptions o;
    if (with_anchor) o.anchor = anchor();
    return verify({file()}, o);
  }
  std::vector<fs::path> all_files() {
    std::vector<fs::path> fs_;
    for (const auto& e : fs::directory_iterator(file().parent_path())) fs_.push_back(e.path());
    return chain_order(fs_);
  }
  ferry::testing::TempDir tmp_{"hash_chain"};
};

TEST_F(HashChainTest, LinesChainAndVerify) {
  write(3);
  const auto ls = read_lines(file());
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(json::parse(ls[0])["prev"], kGenesis);
  EXPECT_EQ(json::parse(ls[1])["prev"], sha256_hex(ls[0]));
  EXPECT_EQ(json::parse(ls[2])["sha256"], sha256_hex(canonical(json::parse(ls[2]))));
  const auto r = verify_one();
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.anchored);
  EXPECT_EQ(r.lines, 3);
}

TEST_F(HashChainTest, OneEditedByteIsReportedAtItsLine) {
  write(5);
  auto ls = read_lines(file());
  const auto pos = ls[2].find("\"i\":2");
  ASSERT_NE(pos, std::string::npos);
  ls[2][pos + 4] = '7';
  write_lines(file(), ls);
  const auto r = verify_one();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.file, file());
  EXPECT_EQ(r.first_bad, 3);
  EXPECT_NE(r.reason.find("edited"), std::string::npos) << r.reason;
}

TEST_F(HashChainTest, DeletedLineIsReportedAtTheNextOne) {
  write(5);
  auto ls = read_lines(file());
  ls.erase(ls.begin() + 1);
  write_lines(file(), ls);
  const auto r = verify_one(false);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 2);
  EXPECT_NE(r.reason.find("removed, reordered"), std::string::npos) << r.reason;
}

TEST_F(HashChainTest, SwappedLinesAreReported) {
  write(5);
  auto ls = read_lines(file());
  std::swap(ls[1], ls[3]);
  write_lines(file(), ls);
  const auto r = verify_one(false);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 2);
}

TEST_F(HashChainTest, TruncatedTailIsCaughtOnlyByTheAnchor) {
  write(5);
  auto ls = read_lines(file());
  ls.resize(3);
  write_lines(file(), ls);
  EXPECT_TRUE(verify_one(false).ok) << "the chain alone cannot see a cut tail";
  const auto r = verify_one();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 4);
  EXPECT_NE(r.reason.find("last 2 line(s) were truncated or deleted"), std::string::npos) << r.reason;
}

TEST_F(HashChainTest, RestartContinuesTheChain) {
  write(2);
  write(2, 0, 10, 2);  // a new writer: finds the head in the file's last line
  const auto ls = read_lines(file());
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(json::parse(ls[2])["prev"], sha256_hex(ls[1]));
  const auto r = verify_one();
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.anchor_entries, 4);
}

TEST_F(HashChainTest, ABatchIsOneRunOfChainedLines) {
  {
    ChainWriter w({file(), anchor()});
    std::vector<json> batch;
    for (int i = 0; i < 4; ++i) batch.push_back({{"i", i}});
    const auto out = w.append(batch);
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[3]["prev"], sha256_hex(out[2].dump()));
  }
  EXPECT_TRUE(verify_one().ok);
  EXPECT_EQ(read_anchor(anchor())->entries, 4);
}

TEST_F(HashChainTest, RotationAcrossThreeFilesKeepsOneChain) {
  // Each line is ~175 bytes, so 400 bytes hold 2 lines per file: 8 lines make 4 files, of which
  // 3 are kept (the first two lines were rotated away).
  write(8, 400, 3);
  const auto files = all_files();
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].filename(), "audit.log.2");
  EXPECT_EQ(files[1].filename(), "audit.log.1");
  EXPECT_EQ(files[2].filename(), "audit.log");
  // The first line of each newer file chains to the last line of the older one.
  EXPECT_EQ(json::parse(read_lines(files[1]).front())["prev"], sha256_hex(read_lines(files[0]).back()));
  EXPECT_EQ(json::parse(read_lines(files[2]).front())["prev"], sha256_hex(read_lines(files[1]).back()));
  VerifyOptions o;
  o.anchor = anchor();
  o.allow_rotated_start = true;  // older files were rotated away
  auto r = verify(files, o);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.anchored);
  // Without the permission the first line's "prev" (into a removed file) is reported.
  EXPECT_FALSE(verify(files, {}).ok);
  // A restart after rotation continues the chain across the files.
  write(4, 400, 3, 8);
  r = verify(all_files(), o);
  EXPECT_TRUE(r.ok) << r.reason;
  // A byte edited in the middle file is reported in that file.
  auto mid = read_lines(all_files()[1]);
  mid[0][mid[0].find("\"what\":\"event\"") + 9] = 'E';
  write_lines(all_files()[1], mid);
  r = verify(all_files(), o);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.file.filename(), "audit.log.1");
  EXPECT_EQ(r.first_bad, 1);
}

TEST_F(HashChainTest, RotationFromGenesisVerifiesStrictly) {
  write(6, 400, 5);
  const auto files = all_files();
  ASSERT_EQ(files.size(), 3u);  // nothing dropped yet: the chain starts at genesis in .2
  EXPECT_EQ(json::parse(read_lines(files[0]).front())["prev"], kGenesis);
  const auto r = verify(files, {anchor(), {}, false});
  EXPECT_TRUE(r.ok) << r.reason;
  // A rotated file removed from the middle breaks the chain at the next file's first line.
  const auto r2 = verify({files[0], files[2]}, {});
  EXPECT_FALSE(r2.ok);
  EXPECT_EQ(r2.file, files[2]);
  EXPECT_EQ(r2.first_bad, 1);
}

TEST_F(HashChainTest, AnchorLeftBehindByACrashAtRotationIsAccepted) {
  write(4, 400, 5);
  const auto files = all_files();
  ASSERT_EQ(files.size(), 2u);
  // The anchor as it was before the rotation's append: the last line of audit.log.1.
  const auto old = read_lines(files[0]);
  std::ofstream(anchor(), std::ios::trunc)
      << json{{"entries", old.size()}, {"head", sha256_hex(old.back())}, {"ts_ms", 1}}.dump();
  const auto r = verify(files, {anchor(), {}, false});
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.anchored);
}

TEST_F(HashChainTest, TornLastLineStaysItsOwnLineAndIsReported) {
  write(2);
  { std::ofstream(file(), std::ios::app) << R"({"i":2,"wh)"; }
  auto r = verify_one(false);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 3);
  EXPECT_NE(r.reason.find("no trailing newline"), std::string::npos) << r.reason;
  write(1, 0, 10, 3);  // the restarted writer starts a fresh line and chains over the fragment
  const auto ls = read_lines(file());
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(json::parse(ls[3])["prev"], sha256_hex(ls[2]));
  r = verify_one(false);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 3);
  EXPECT_NE(r.reason.find("not JSON"), std::string::npos) << r.reason;
}

TEST_F(HashChainTest, MissingFileIsAnErrorAndEmptyFileIsFine) {
  EXPECT_FALSE(verify({tmp_.path / "nope"}, {}).ok);
  std::ofstream(tmp_.path / "empty").flush();
  EXPECT_TRUE(verify({tmp_.path / "empty"}, {}).ok);
}

TEST(HashChain, ChainOrderPutsRotatedFilesOldestFirst) {
  const std::vector<fs::path> in{"d/a.log", "d/a.log.1", "d/a.log.10", "d/a.log.2"};
  const std::vector<fs::path> want{"d/a.log.10", "d/a.log.2", "d/a.log.1", "d/a.log"};
  EXPECT_EQ(chain_order(in), want);
}

TEST(HashChain, Sha256AndFormats) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
  EXPECT_EQ(detect_format(json{{"specversion", "1.0"}}), &kSecurityAuditFormat);
  EXPECT_EQ(detect_format(json{{"who", {}}, {"command", "x"}}), &kFerryDrFormat);
  EXPECT_EQ(detect_format(json{{"x", 1}}), nullptr);
  EXPECT_EQ(kFerryDrFormat.checker()(json{{"ts", "x"}}), "field \"who\" missing");
}

}  // namespace
}  // namespace ferry::hash_chain
