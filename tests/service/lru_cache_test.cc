// ShardedLru on its own, over a test entry type that is not a report: LRU order by bytes,
// expiry and the keeping window, kinds, shards, and entries outliving their eviction.

#include "service/lru_cache.h"

#include <atomic>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace rollcall::service {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

struct TestNode {
  std::string key;
  std::size_t charge = 0;
  absl::Time expires_at;
  int kind = 0;
  std::atomic<int> refs{1};
  TestNode* newer = nullptr;
  TestNode* older = nullptr;
};

std::atomic<int> g_live_nodes{0};

// A counted reference to a TestNode, deleting it with its last reference.
class TestRef {
 public:
  TestRef() = default;
  explicit TestRef(TestNode* adopted) : node_(adopted) {}
  TestRef(const TestRef& other) : node_(other.node_) {
    if (node_ != nullptr) node_->refs.fetch_add(1);
  }
  TestRef& operator=(TestRef other) {
    std::swap(node_, other.node_);
    return *this;
  }
  ~TestRef() { Release(node_); }
  explicit operator bool() const { return node_ != nullptr; }
  TestNode* get() const { return node_; }
  static void Release(TestNode* node) {
    if (node != nullptr && node->refs.fetch_sub(1) == 1) {
      delete node;
      g_live_nodes.fetch_sub(1);
    }
  }

 private:
  TestNode* node_ = nullptr;
};

TestRef Make(std::string key, std::size_t charge, absl::Time expires_at, int kind = 0) {
  auto* node = new TestNode;
  g_live_nodes.fetch_add(1);
  node->key = std::move(key);
  node->charge = charge;
  node->expires_at = expires_at;
  node->kind = kind;
  return TestRef(node);
}

// Kind 1 entries are never kept past their expiry (like a remembered error).
struct TestTraits {
  using Node = TestNode;
  using Ref = TestRef;
  static constexpr int kKinds = 2;
  static int Kind(const Node* n) { return n->kind; }
  static absl::string_view Key(const Node* n) { return n->key; }
  static std::size_t Charge(const Node* n) { return n->charge; }
  static absl::Time ExpiresAt(const Node* n) { return n->expires_at; }
  static bool KeepsStale(const Node* n) { return n->kind == 0; }
  static Node* NodeOf(const Ref& r) { return r.get(); }
  static Ref NewRef(Node* n) {
    n->refs.fetch_add(1);
    return TestRef(n);
  }
  static void AddRef(Node* n) { n->refs.fetch_add(1); }
  static void Unref(Node* n) { TestRef::Release(n); }
  static Node*& Newer(Node* n) { return n->newer; }
  static Node*& Older(Node* n) { return n->older; }
};

using Lru = ShardedLru<TestTraits>;

Lru::Options Bytes(std::size_t max_bytes, absl::Duration stale = absl::ZeroDuration()) {
  Lru::Options options;
  options.max_bytes = max_bytes;
  options.stale_window = stale;
  return options;
}

bool Has(Lru& lru, const std::string& key, absl::Time now = kT0) {
  return static_cast<bool>(lru.Lookup(HashedKey(key), now));
}

TEST(ShardedLruTest, ASmallCacheIsOneShardAndALargeOneUpToSixteen) {
  EXPECT_EQ(Lru(Bytes(0)).shards(), 1);
  EXPECT_EQ(Lru(Bytes(1 << 20)).shards(), 1);
  EXPECT_EQ(Lru(Bytes(Lru::kMinShardBytes * 2 - 1)).shards(), 1);
  EXPECT_EQ(Lru(Bytes(Lru::kMinShardBytes * 2)).shards(), 2);
  EXPECT_EQ(Lru(Bytes(std::size_t{256} << 20)).shards(), 16);
  EXPECT_EQ(Lru(Bytes(std::size_t{64} << 30)).shards(), 16);
}

TEST(ShardedLruTest, EvictsTheLeastRecentlyUsedByBytes) {
  Lru lru(Bytes(300));
  for (const char* key : {"a", "b", "c"}) ASSERT_TRUE(lru.Insert(Make(key, 100, kT0 + absl::Hours(1)), kT0));
  ASSERT_TRUE(Has(lru, "a"));  // a is now the most recently used
  ASSERT_TRUE(lru.Insert(Make("d", 100, kT0 + absl::Hours(1)), kT0));
  EXPECT_FALSE(Has(lru, "b"));
  EXPECT_TRUE(Has(lru, "a"));
  EXPECT_TRUE(Has(lru, "c"));
  EXPECT_TRUE(Has(lru, "d"));
  // One entry worth two evicts two.
  ASSERT_TRUE(lru.Insert(Make("e", 200, kT0 + absl::Hours(1)), kT0));
  const Lru::Stats stats = lru.GetStats();
  EXPECT_EQ(stats.evictions, 3u);
  EXPECT_EQ(stats.entries[0], 2u);
  EXPECT_EQ(stats.bytes, 300u);
  EXPECT_FALSE(Has(lru, "a"));
  EXPECT_FALSE(Has(lru, "c"));
  EXPECT_TRUE(Has(lru, "d"));
  EXPECT_TRUE(Has(lru, "e"));
}

TEST(ShardedLruTest, AnEntryLargerThanItsShardIsNotKeptAndDropsTheOlderOne) {
  Lru lru(Bytes(1000));
  ASSERT_TRUE(lru.Insert(Make("k", 10, kT0 + absl::Hours(1)), kT0));
  EXPECT_FALSE(lru.Insert(Make("k", 1001, kT0 + absl::Hours(1)), kT0));
  EXPECT_FALSE(Has(lru, "k"));
  EXPECT_EQ(lru.GetStats().bytes, 0u);
  // Nor is one whose keeping time has passed.
  ASSERT_TRUE(lru.Insert(Make("k", 10, kT0 + absl::Hours(1)), kT0));
  EXPECT_FALSE(lru.Insert(Make("k", 10, kT0), kT0));
  EXPECT_FALSE(Has(lru, "k"));
}

TEST(ShardedLruTest, InsertReplacesTheEntryOfItsKey) {
  Lru lru(Bytes(1000));
  ASSERT_TRUE(lru.Insert(Make("k", 10, kT0 + absl::Hours(1)), kT0));
  ASSERT_TRUE(lru.Insert(Make("k", 20, kT0 + absl::Hours(1)), kT0));
  EXPECT_EQ(lru.Lookup(HashedKey("k"), kT0).get()->charge, 20u);
  EXPECT_EQ(lru.GetStats().bytes, 20u);
  EXPECT_EQ(lru.GetStats().entries[0], 1u);
}

TEST(ShardedLruTest, FreshUntilExpiryThenKeptForTheStaleWindowThenDropped) {
  Lru lru(Bytes(1000, absl::Hours(1)));
  ASSERT_TRUE(lru.Insert(Make("k", 10, kT0 + absl::Minutes(1)), kT0));
  EXPECT_TRUE(Has(lru, "k", kT0 + absl::Seconds(59)));
  // Expired: a miss, but kept.
  EXPECT_FALSE(Has(lru, "k", kT0 + absl::Minutes(1)));
  EXPECT_FALSE(lru.Peek(HashedKey("k"), kT0 + absl::Minutes(1)));
  EXPECT_TRUE(lru.LookupKept(HashedKey("k"), kT0 + absl::Minutes(30)));
  EXPECT_EQ(lru.GetStats().entries[0], 1u);
  EXPECT_EQ(lru.GetStats().expirations, 0u);
  // Past the window: dropped at its next lookup.
  EXPECT_FALSE(lru.LookupKept(HashedKey("k"), kT0 + absl::Minutes(61)));
  EXPECT_FALSE(Has(lru, "k", kT0 + absl::Minutes(61)));
  const Lru::Stats stats = lru.GetStats();
  EXPECT_EQ(stats.expirations, 1u);
  EXPECT_EQ(stats.entries[0], 0u);
  EXPECT_EQ(stats.bytes, 0u);
}

TEST(ShardedLruTest, EntriesThatDoNotKeepStaleGoAtTheirExpiry) {
  Lru lru(Bytes(1000, absl::Hours(1)));
  ASSERT_TRUE(lru.Insert(Make("neg", 10, kT0 + absl::Seconds(30), /*kind=*/1), kT0));
  EXPECT_TRUE(Has(lru, "neg", kT0 + absl::Seconds(29)));
  EXPECT_FALSE(lru.LookupKept(HashedKey("neg"), kT0 + absl::Seconds(31)));
  EXPECT_FALSE(Has(lru, "neg", kT0 + absl::Seconds(30)));
  EXPECT_EQ(lru.GetStats().expirations, 1u);
  EXPECT_EQ(lru.GetStats().entries[1], 0u);
}

TEST(ShardedLruTest, HitsAreCountedByKindAndPeekCountsNothing) {
  Lru lru(Bytes(1000));
  ASSERT_TRUE(lru.Insert(Make("a", 10, kT0 + absl::Hours(1), 0), kT0));
  ASSERT_TRUE(lru.Insert(Make("b", 10, kT0 + absl::Hours(1), 1), kT0));
  EXPECT_TRUE(Has(lru, "a"));
  EXPECT_TRUE(Has(lru, "a"));
  EXPECT_TRUE(Has(lru, "b"));
  EXPECT_FALSE(Has(lru, "c"));
  EXPECT_TRUE(lru.Peek(HashedKey("a"), kT0));
  EXPECT_FALSE(lru.Peek(HashedKey("c"), kT0));
  const Lru::Stats stats = lru.GetStats();
  EXPECT_EQ(stats.hits[0], 2u);
  EXPECT_EQ(stats.hits[1], 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.entries[0], 1u);
  EXPECT_EQ(stats.entries[1], 1u);
}

TEST(ShardedLruTest, EachShardKeepsItsOwnBoundAndAllKeysAreFound) {
  const std::size_t max_bytes = Lru::kMinShardBytes * 16;
  Lru lru(Bytes(max_bytes));
  ASSERT_EQ(lru.shards(), 16);
  // Far more than fits: every shard evicts down to its own share.
  const std::size_t charge = Lru::kMinShardBytes / 8;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(lru.Insert(Make(absl::StrCat("k", i), charge, kT0 + absl::Hours(1)), kT0));
  }
  const Lru::Stats stats = lru.GetStats();
  EXPECT_LE(stats.bytes, max_bytes);
  EXPECT_EQ(stats.bytes, stats.entries[0] * charge);
  EXPECT_EQ(stats.entries[0] + stats.evictions, 1000u);
  // The most recent entry of each shard is still there, so the last one inserted is.
  EXPECT_TRUE(Has(lru, "k999"));
}

TEST(ShardedLruTest, AnEntryOutlivesItsEvictionAndTheCache) {
  const int live_before = g_live_nodes.load();
  TestRef held;
  {
    Lru lru(Bytes(100));
    ASSERT_TRUE(lru.Insert(Make("a", 100, kT0 + absl::Hours(1)), kT0));
    held = lru.Lookup(HashedKey("a"), kT0);
    ASSERT_TRUE(held);
    ASSERT_TRUE(lru.Insert(Make("b", 100, kT0 + absl::Hours(1)), kT0));
    EXPECT_FALSE(Has(lru, "a"));  // evicted, still referenced here
    EXPECT_EQ(held.get()->key, "a");
  }
  EXPECT_EQ(held.get()->key, "a");  // the cache is gone; the entry is not
  EXPECT_EQ(g_live_nodes.load(), live_before + 1);
  held = TestRef();
  EXPECT_EQ(g_live_nodes.load(), live_before);  // and nothing leaked
}

}  // namespace
}  // namespace rollcall::service
