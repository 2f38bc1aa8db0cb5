// Makes Debian's Abseil synchronization visible to ThreadSanitizer. Preloaded (LD_PRELOAD) by
// scripts/test's ThreadSanitizer stage only; never linked into anything.
//
// Debian's libabsl_synchronization is not built with -fsanitize=thread, so TSan cannot see that
// absl::Mutex, absl::CondVar and absl::Notification order memory: every member guarded by an
// absl::Mutex (gRPC's grpc_core::Mutex; Rollcall's own code and tests are on common::Mutex)
// would be reported as a race. This library interposes the out-of-line entry points (the executable and
// every library call them through the PLT, so the preloaded definitions win), calls the real
// ones (dlsym RTLD_NEXT), and tells TSan what each does: a lock acquires the mutex's
// happens-before state, an unlock releases it, a wait does both, Notify releases what
// HasBeenNotified/WaitForNotification acquire. It adds ordering TSan would get from an
// instrumented Abseil, and nothing else: it hides no report about unsynchronized accesses.
//
// The symbol names are those of Debian's Abseil 20220623 (inline namespace debian3); if one is
// missing the process aborts with its name, rather than silently checking less.

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

// From the TSan runtime inside the instrumented executable; weak, so that a process without
// TSan (a child the tests start) that inherits LD_PRELOAD still loads this library.
extern "C" void __tsan_acquire(void* addr) __attribute__((weak));
extern "C" void __tsan_release(void* addr) __attribute__((weak));

namespace {

void Acquire(const void* addr) {
  if (__tsan_acquire != nullptr) __tsan_acquire(const_cast<void*>(addr));
}
void Release(const void* addr) {
  if (__tsan_release != nullptr) __tsan_release(const_cast<void*>(addr));
}

template <typename F>
F Real(const char* name) {
  void* real = dlsym(RTLD_NEXT, name);
  if (real == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in Abseil\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(real);
}

// Notification keeps its flag right after its Mutex; HasBeenNotified reads it inline, in
// instrumented code, with an acquire load: Notify releases on the flag's address.
static_assert(sizeof(absl::Mutex) == sizeof(intptr_t), "absl::Mutex layout changed");
static_assert(sizeof(absl::Notification) == 2 * sizeof(intptr_t), "Notification layout changed");
const void* NotifiedFlag(const absl::Notification* n) {
  return reinterpret_cast<const char*>(n) + sizeof(absl::Mutex);
}

// A waiter's Condition is evaluated inside Abseil, with the mutex held, by the waiter or by a
// thread unlocking: each evaluation is bracketed by an acquire and a release of the mutex, so
// what it reads is ordered with the holders before and after it.
struct Bracketed {
  const absl::Condition* cond;
  const absl::Mutex* mu;
  static bool Eval(void* arg) {
    const auto* self = static_cast<const Bracketed*>(arg);
    Acquire(self->mu);
    const bool result = self->cond->Eval();
    Release(self->mu);
    return result;
  }
};

}  // namespace

// Declares `bracketed`, a Condition that evaluates `cond` between an acquire and a release of
// `mu`, alive for the enclosing call.
#define ROLLCALL_BRACKET(cond, mu)                       \
  Bracketed bracketed_arg{&(cond), (mu)};                \
  const Condition bracketed(&Bracketed::Eval, static_cast<void*>(&bracketed_arg))

#define ROLLCALL_REAL(type, mangled) static const auto real = Real<type>(mangled)

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  ROLLCALL_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  real(this);
  Acquire(this);
}

void Mutex::ReaderLock() {
  ROLLCALL_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}

bool Mutex::TryLock() {
  ROLLCALL_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  ROLLCALL_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

void Mutex::Unlock() {
  ROLLCALL_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  Release(this);
  real(this);
}

void Mutex::ReaderUnlock() {
  ROLLCALL_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  Release(this);
  real(this);
}

void Mutex::LockWhen(const Condition& cond) {
  ROLLCALL_REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  ROLLCALL_BRACKET(cond, this);
  real(this, bracketed);
  Acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  ROLLCALL_REAL(void (*)(Mutex*, const Condition&),
                "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  ROLLCALL_BRACKET(cond, this);
  real(this, bracketed);
  Acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  ROLLCALL_REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
                "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  ROLLCALL_BRACKET(cond, this);
  const bool result = real(this, bracketed, timeout);
  Acquire(this);  // held either way
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  ROLLCALL_REAL(bool (*)(Mutex*, const Condition&, absl::Time),
                "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  ROLLCALL_BRACKET(cond, this);
  const bool result = real(this, bracketed, deadline);
  Acquire(this);
  return result;
}

void Mutex::Await(const Condition& cond) {
  ROLLCALL_REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  ROLLCALL_BRACKET(cond, this);
  Release(this);
  real(this, bracketed);
  Acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  ROLLCALL_REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
                "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  ROLLCALL_BRACKET(cond, this);
  Release(this);
  const bool result = real(this, bracketed, timeout);
  Acquire(this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  ROLLCALL_REAL(bool (*)(Mutex*, const Condition&, absl::Time),
                "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  ROLLCALL_BRACKET(cond, this);
  Release(this);
  const bool result = real(this, bracketed, deadline);
  Acquire(this);
  return result;
}

void CondVar::Wait(Mutex* mu) {
  ROLLCALL_REAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  ROLLCALL_REAL(bool (*)(CondVar*, Mutex*, absl::Duration),
                "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  const bool result = real(this, mu, timeout);
  Acquire(mu);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  ROLLCALL_REAL(bool (*)(CondVar*, Mutex*, absl::Time),
                "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  const bool result = real(this, mu, deadline);
  Acquire(mu);
  return result;
}

void Notification::Notify() {
  ROLLCALL_REAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv");
  Release(NotifiedFlag(this));
  real(this);
}

void Notification::WaitForNotification() const {
  ROLLCALL_REAL(void (*)(const Notification*),
                "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  real(this);
  Acquire(NotifiedFlag(this));
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  ROLLCALL_REAL(bool (*)(const Notification*, absl::Duration),
                "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = real(this, timeout);
  if (notified) Acquire(NotifiedFlag(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
