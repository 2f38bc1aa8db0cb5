#pragma once
// ShardedLru: a byte-bounded LRU with expiry, split into shards that each have their own lock,
// so that lookups of different keys do not wait for one another. It knows nothing of what it
// holds: the entries are intrusive nodes described by a Traits class (below), each carrying
// its own key, charge, expiry and LRU links, and a counted reference to it (Traits::Ref) is
// what callers hold. The cache holds one reference per entry it keeps; an entry dropped from
// the cache lives on while a caller still references it.
//
// Contract:
//  - Thread-safe. Every method takes at most one shard's lock, for a bounded amount of work
//    (no allocation on Lookup; Insert may grow the shard's index), and never calls back into
//    the caller's code but for Traits' static accessors and reference counting.
//  - Freshness and keeping: an entry is fresh while now < Traits::ExpiresAt; past that it is
//    kept (for stale-if-error) until ExpiresAt + Options::stale_window when
//    Traits::KeepsStale(node), and dropped at its first lookup after that.
//  - Bytes: each shard holds at most max_bytes / shards of Traits::Charge; inserting evicts the
//    shard's least recently used entries down to that bound. An entry whose charge alone
//    exceeds its shard's bound is not kept. Shards() is chosen so that each shard holds at
//    least kMinShardBytes (so a small cache is one shard: one exact LRU order).
//  - Counters are per shard, written under the shard's lock, read without it (relaxed).
//
// Traits must provide:
//   using Node = ...;   // the entry's header, with room for the links below
//   using Ref = ...;    // a counted reference: default-constructible (null), copyable,
//                       // explicit operator bool
//   static constexpr int kKinds;                      // entries are counted by kind
//   static int Kind(const Node*);                     // 0 .. kKinds-1
//   static absl::string_view Key(const Node*);
//   static std::size_t Charge(const Node*);
//   static absl::Time ExpiresAt(const Node*);
//   static bool KeepsStale(const Node*);
//   static Node* NodeOf(const Ref&);                  // null for a null Ref
//   static Ref NewRef(Node*);                         // another reference to a live entry
//   static void AddRef(Node*); static void Unref(Node*);  // the cache's own reference
//   static Node*& Newer(Node*); static Node*& Older(Node*);  // links, only the cache's

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace rollcall::service {

// A key with its hash, computed once per operation: the shard is picked and the shard's
// index probed with the same value.
struct HashedKey {
  explicit HashedKey(absl::string_view k) : key(k), hash(absl::Hash<absl::string_view>{}(k)) {}
  absl::string_view key;
  std::size_t hash;
};

template <typename Traits>
class ShardedLru {
 public:
  using Node = typename Traits::Node;
  using Ref = typename Traits::Ref;

  static constexpr int kMaxShards = 16;
  static constexpr std::size_t kMinShardBytes = std::size_t{4} << 20;

  struct Options {
    // Bound on the sum of charges (split evenly over the shards). 0 keeps nothing.
    std::size_t max_bytes = 0;
    // How long past its expiry an entry that KeepsStale is kept.
    absl::Duration stale_window = absl::ZeroDuration();
  };

  struct Stats {
    std::array<uint64_t, Traits::kKinds> hits{};     // fresh entries found, by kind
    uint64_t misses = 0;       // lookups that found nothing fresh
    uint64_t evictions = 0;    // entries dropped for the byte bound
    uint64_t expirations = 0;  // entries dropped because their keeping time passed
    std::size_t bytes = 0;
    std::array<std::size_t, Traits::kKinds> entries{};  // by kind
  };

  explicit ShardedLru(const Options& options)
      : options_(options), shard_bits_(ShardBits(options.max_bytes)) {
    const std::size_t shards = std::size_t{1} << shard_bits_;
    shard_bytes_ = options.max_bytes / shards;
    shards_ = std::make_unique<Shard[]>(shards);
  }

  // Drops the cache's references; entries referenced elsewhere live on until those go.
  ~ShardedLru() {
    for (int i = 0; i < shards(); ++i) {
      Shard& shard = shards_[i];
      common::MutexLock lock(&shard.mu);
      for (Node* node : shard.index) Traits::Unref(node);
      shard.index.clear();
    }
  }

  ShardedLru(const ShardedLru&) = delete;
  ShardedLru& operator=(const ShardedLru&) = delete;

  int shards() const { return 1 << shard_bits_; }

  // The fresh entry of `key`, marked most recently used and counted as a hit (by kind); or
  // null, counted as a miss, when there is none. An entry past its keeping time is dropped.
  Ref Lookup(const HashedKey& key, absl::Time now) {
    Shard& shard = ShardOf(key);
    common::MutexLock lock(&shard.mu);
    Node* node = FindLocked(shard, key);
    if (node != nullptr && now < Traits::ExpiresAt(node)) {
      TouchLocked(shard, node);
      Bump(shard.hits[Traits::Kind(node)]);
      return Traits::NewRef(node);
    }
    Bump(shard.misses);
    if (node != nullptr && now >= KeepUntil(node)) {
      EraseLocked(shard, node);
      Bump(shard.expirations);
    }
    return Ref();
  }

  // As Lookup, but counts nothing (a caller that looks again after a miss).
  Ref Peek(const HashedKey& key, absl::Time now) {
    Shard& shard = ShardOf(key);
    common::MutexLock lock(&shard.mu);
    Node* node = FindLocked(shard, key);
    if (node == nullptr || now >= Traits::ExpiresAt(node)) return Ref();
    TouchLocked(shard, node);
    return Traits::NewRef(node);
  }

  // The entry of `key` while it is kept, fresh or expired, when it KeepsStale; or null. (A load
  // that failed asks for it: the entry it may serve stale.) Counts nothing.
  Ref LookupKept(const HashedKey& key, absl::Time now) {
    Shard& shard = ShardOf(key);
    common::MutexLock lock(&shard.mu);
    Node* node = FindLocked(shard, key);
    if (node == nullptr || !Traits::KeepsStale(node) || now >= KeepUntil(node)) return Ref();
    return Traits::NewRef(node);
  }

  // Puts `entry` first in its shard's LRU order, replacing any entry of its key, and evicts
  // down to the shard's bound. False, with nothing inserted and any older entry of the key
  // dropped (it must not outlive a newer value), when the entry alone exceeds the bound or its
  // keeping time has already passed at `now`.
  bool Insert(const Ref& entry, absl::Time now) {
    Node* node = Traits::NodeOf(entry);
    const HashedKey key(Traits::Key(node));
    Shard& shard = ShardOf(key);
    const std::size_t charge = Traits::Charge(node);
    common::MutexLock lock(&shard.mu);
    if (Node* old = FindLocked(shard, key)) EraseLocked(shard, old);
    if (charge > shard_bytes_ || now >= KeepUntil(node)) return false;
    Traits::AddRef(node);
    shard.index.insert(node);
    LinkFrontLocked(shard, node);
    shard.bytes += charge;
    ++shard.entries[Traits::Kind(node)];
    while (shard.bytes > shard_bytes_ && shard.oldest != nullptr) {
      EraseLocked(shard, shard.oldest);
      Bump(shard.evictions);
    }
    return true;
  }

  // Drops the entry of `key`, if any.
  void Erase(const HashedKey& key) {
    Shard& shard = ShardOf(key);
    common::MutexLock lock(&shard.mu);
    if (Node* node = FindLocked(shard, key)) EraseLocked(shard, node);
  }

  // Sums over the shards, each read under its lock (so sizes are consistent per shard).
  Stats GetStats() const {
    Stats stats;
    for (int i = 0; i < shards(); ++i) {
      Shard& shard = shards_[i];
      common::MutexLock lock(&shard.mu);
      for (int k = 0; k < Traits::kKinds; ++k) {
        stats.hits[k] += shard.hits[k].load(std::memory_order_relaxed);
        stats.entries[k] += shard.entries[k];
      }
      stats.misses += shard.misses.load(std::memory_order_relaxed);
      stats.evictions += shard.evictions.load(std::memory_order_relaxed);
      stats.expirations += shard.expirations.load(std::memory_order_relaxed);
      stats.bytes += shard.bytes;
    }
    return stats;
  }

 private:
  struct IndexHash {
    using is_transparent = void;
    std::size_t operator()(const HashedKey& key) const { return key.hash; }
    std::size_t operator()(const Node* node) const {
      return absl::Hash<absl::string_view>{}(Traits::Key(node));
    }
  };
  struct IndexEq {
    using is_transparent = void;
    bool operator()(const Node* a, const Node* b) const { return a == b; }
    bool operator()(const Node* a, const HashedKey& b) const { return Traits::Key(a) == b.key; }
    bool operator()(const HashedKey& a, const Node* b) const { return Traits::Key(b) == a.key; }
  };

  struct alignas(64) Shard {
    mutable common::Mutex mu;
    // Every kept entry, by the key it holds: one pointer per slot.
    absl::flat_hash_set<Node*, IndexHash, IndexEq> index ABSL_GUARDED_BY(mu);
    // The same entries, most recently used first, linked through their nodes.
    Node* newest ABSL_GUARDED_BY(mu) = nullptr;
    Node* oldest ABSL_GUARDED_BY(mu) = nullptr;
    std::size_t bytes ABSL_GUARDED_BY(mu) = 0;
    std::array<std::size_t, Traits::kKinds> entries ABSL_GUARDED_BY(mu){};
    // Written under mu, read without it.
    std::array<std::atomic<uint64_t>, Traits::kKinds> hits{};
    std::atomic<uint64_t> misses{0};
    std::atomic<uint64_t> evictions{0};
    std::atomic<uint64_t> expirations{0};
  };

  // Only the shard's lock holder writes: a plain increment, readable without the lock.
  static void Bump(std::atomic<uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  static int ShardBits(std::size_t max_bytes) {
    int bits = 0;
    while ((1 << (bits + 1)) <= kMaxShards && (max_bytes >> (bits + 1)) >= kMinShardBytes) {
      ++bits;
    }
    return bits;
  }

  Shard& ShardOf(const HashedKey& key) const {
    // The top bits: the index probes with the low ones.
    return shards_[shard_bits_ == 0 ? 0 : (static_cast<uint64_t>(key.hash) >> (64 - shard_bits_))];
  }

  absl::Time KeepUntil(const Node* node) const {
    return Traits::KeepsStale(node) ? Traits::ExpiresAt(node) + options_.stale_window
                                    : Traits::ExpiresAt(node);
  }

  static Node* FindLocked(Shard& shard, const HashedKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    const auto found = shard.index.find(key);
    return found == shard.index.end() ? nullptr : *found;
  }

  static void EraseLocked(Shard& shard, Node* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    shard.bytes -= Traits::Charge(node);
    --shard.entries[Traits::Kind(node)];
    shard.index.erase(node);
    UnlinkLocked(shard, node);
    Traits::Unref(node);  // may free it: last
  }

  static void UnlinkLocked(Shard& shard, Node* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    Node* const newer = Traits::Newer(node);
    Node* const older = Traits::Older(node);
    (newer != nullptr ? Traits::Older(newer) : shard.newest) = older;
    (older != nullptr ? Traits::Newer(older) : shard.oldest) = newer;
    Traits::Newer(node) = Traits::Older(node) = nullptr;
  }

  static void LinkFrontLocked(Shard& shard, Node* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    Traits::Newer(node) = nullptr;
    Traits::Older(node) = shard.newest;
    (shard.newest != nullptr ? Traits::Newer(shard.newest) : shard.oldest) = node;
    shard.newest = node;
  }

  static void TouchLocked(Shard& shard, Node* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    if (shard.newest == node) return;
    UnlinkLocked(shard, node);
    LinkFrontLocked(shard, node);
  }

  const Options options_;
  const int shard_bits_;
  std::size_t shard_bytes_ = 0;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace rollcall::service
