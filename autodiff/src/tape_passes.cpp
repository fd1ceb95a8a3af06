// The passes over a recorded tape (launch.hpp): what a recording does once, when f and backward
// have run, so that every run does less. They see a kernel through the Access it was launched
// with; an opaque kernel (launched without one) is a barrier to each: it may read or write
// anything.
//
// Dead kernels. A kernel is dead when everything it writes lies in the recording's own buffers
// and is read by no later kernel before being written over, nor by the caller after a run (a
// buffer still in use when recording ends: the loss, the gradients, a tensor f made and the
// caller kept). Eager mode computes such values and drops them (a value f computes and never
// uses, the gradient of a branch nothing reads); a run does not compute them. The pass walks the
// tape backwards with the set of bytes a later kernel or the caller reads.
//
// Elementwise fusion. Consecutive elementwise kernels over the same number of elements (an
// activation, its backward, an add, a copy) each stream their operands through memory; run
// together block by block, the values one writes and the next reads are still in the first
// level of cache. Element i of each kernel depends only on element i of the others (Access), so
// any order of the blocks gives the same values, as long as no kernel of the group writes memory
// that another reads at a different place: a run's bits stay eager mode's.
//
// SGD updates in their GEMMs. With record_step's SgdUpdate the tape ends with p -= lr * g for
// every parameter; where g is one GEMM's output that nothing else uses, the GEMM adds -lr times
// its product into p instead (fold_updates). Rounded once instead of twice: not eager mode's bits.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <utility>

#include "launch.hpp"
#include "tapegrad/errors.hpp"

namespace tg::detail {

namespace {

// A set of byte ranges, kept as disjoint, non-adjacent intervals.
class Intervals {
 public:
  void add(Region r) {
    if (r.begin >= r.end) return;
    auto it = spans_.upper_bound(r.begin);
    if (it != spans_.begin() && std::prev(it)->second >= r.begin) --it;
    while (it != spans_.end() && it->first <= r.end) {
      r.begin = std::min(r.begin, it->first);
      r.end = std::max(r.end, it->second);
      it = spans_.erase(it);
    }
    spans_.emplace(r.begin, r.end);
  }

  void remove(Region r) {
    if (r.begin >= r.end) return;
    auto it = spans_.upper_bound(r.begin);
    if (it != spans_.begin()) --it;
    while (it != spans_.end() && it->first < r.end) {
      const auto [begin, end] = *it;
      if (end <= r.begin) {
        ++it;
        continue;
      }
      it = spans_.erase(it);
      if (begin < r.begin) spans_.emplace(begin, r.begin);
      if (end > r.end) {
        spans_.emplace(r.end, end);
        break;
      }
    }
  }

  bool empty() const { return spans_.empty(); }

  // Whether any interval of this set meets `other`.
  bool meets(const Intervals& other) const {
    for (const auto& [begin, end] : spans_)
      if (other.intersects({begin, end})) return true;
    return false;
  }

  bool intersects(Region r) const {
    if (r.begin >= r.end) return false;
    auto it = spans_.upper_bound(r.begin);
    if (it != spans_.begin() && std::prev(it)->second > r.begin) return true;
    return it != spans_.end() && it->first < r.end;
  }

 private:
  std::map<std::uintptr_t, std::uintptr_t> spans_;
};

bool overlap(Region a, Region b) {
  return a.begin < b.end && b.begin < a.end && a.begin < a.end && b.begin < b.end;
}

bool same(Region a, Region b) {
  return a.begin == b.begin && a.end == b.end;
}

// The dead kernels of the tape (see above); `in_use`: the buffers in use after recording.
std::vector<bool> dead_kernels(const std::vector<KernelNote>& notes,
                               const std::vector<HeldSpan>& held, const Intervals& in_use) {
  Intervals read_later = in_use;
  // Whether r lies in the recording's own memory: elsewhere (parameters, inputs, the caller's
  // tensors) every write is seen.
  auto own = [&](Region r) {
    if (r.begin >= r.end) return true;
    return std::any_of(held.begin(), held.end(), [&](const HeldSpan& s) {
      return s.memory.begin <= r.begin && r.end <= s.memory.end;
    });
  };
  std::vector<bool> dead(notes.size(), false);
  for (std::size_t k = notes.size(); k-- > 0;) {
    const KernelNote& note = notes[k];
    if (!note.described) {
      read_later.add({0, UINTPTR_MAX});
      continue;
    }
    const Access& a = note.access;
    dead[k] = !a.writes.empty() && std::all_of(a.writes.begin(), a.writes.end(), [&](Region w) {
      return own(w) && !read_later.intersects(w);
    });
    if (dead[k]) continue;
    for (Region w : a.writes) read_later.remove(w);
    for (Region r : a.reads) read_later.add(r);
  }
  return dead;
}

// Folds each SGD update P -= lr G into the GEMM that wrote G (P += (-lr) * product, beta = 1)
// when nothing else touches G or P in between and nothing reads G after: the GEMM then writes
// P, the update goes, and G is never written. Returns how many were folded; the GEMMs' kernels
// are replaced, the updates marked in `removed`.
std::size_t fold_updates(std::vector<std::function<void()>>& kernels,
                         std::vector<KernelNote>& notes, std::vector<bool>& removed,
                         const Intervals& in_use) {
  auto touches = [](const Access& a, Region r) {
    for (const auto* list : {&a.reads, &a.writes})
      for (Region x : *list)
        if (overlap(x, r)) return true;
    return false;
  };
  std::size_t folded = 0;
  for (std::size_t u = 0; u < notes.size(); ++u) {
    const Access& update = notes[u].access;
    if (removed[u] || !notes[u].described || !update.sgd_update) continue;
    const Region param = update.reads[0], grad = update.reads[1];
    // The gradient must be dead after the update: each byte written over (its block taken by a
    // later buffer) before anything reads it, or never read again.
    Intervals unread;
    unread.add(grad);
    bool read_after = false;
    for (std::size_t i = u + 1; i < notes.size() && !read_after && !unread.empty(); ++i) {
      if (removed[i]) continue;
      if (!notes[i].described) {
        read_after = true;
        break;
      }
      for (Region r : notes[i].access.reads) read_after = read_after || unread.intersects(r);
      for (Region w : notes[i].access.writes) unread.remove(w);
    }
    if (read_after || unread.meets(in_use)) continue;
    for (std::size_t k = u; k-- > 0;) {
      if (removed[k]) continue;
      KernelNote& before = notes[k];
      if (!before.described) break;
      Access& a = before.access;
      const bool writes_grad =
          a.add_into && a.writes.size() == 1 && same(a.writes[0], grad) && !touches(a, param);
      if (writes_grad) {
        kernels[k] = a.add_into(reinterpret_cast<void*>(param.begin), -update.sgd_lr);
        a.writes = {param};  // and reads it: the GEMM adds into it
        a.reads.push_back(param);
        a.add_into = nullptr;
        removed[u] = true;
        ++folded;
        break;
      }
      if (touches(a, grad) || touches(a, param)) break;
    }
  }
  return folded;
}

// Blocks of 512 elements by default: the operands of a block (4 KiB each in double) stay in the
// first level of cache. On chains of 10 to 13 elementwise kernels over [64, 1024] and [512, 1024]
// doubles, blocks of 128 to 1024 elements ran within 5% of each other.
std::atomic<std::size_t> g_block_elements{512};

// Whether elementwise kernel `b` may run block by block together with `a`, an earlier one over
// the same elements: memory one writes and the other uses is either apart or the very same region
// (an elementwise kernel writes only whole arrays of its elements, so that region is one: element
// i meets element i).
bool fusable(const Access& a, const Access& b) {
  auto compatible = [](Region w, Region other) { return !overlap(w, other) || same(w, other); };
  for (Region w : a.writes)
    for (const auto* uses : {&b.reads, &b.writes})
      for (Region r : *uses)
        if (!compatible(w, r)) return false;
  for (Region w : b.writes)
    for (Region r : a.reads)
      if (!compatible(w, r)) return false;
  return true;
}

}  // namespace

void optimize_tape(Capture& capture) {
  std::vector<std::function<void()>>& kernels = capture.kernels;
  std::vector<KernelNote>& notes = capture.notes;
  TapeSummary summary;
  summary.recorded = kernels.size();
  if (notes.size() != kernels.size()) {  // not noted throughout: leave the tape as it is
    notes.clear();
    capture.summary = summary;
    return;
  }
  const std::vector<HeldSpan> held = held_spans(capture);
  Intervals in_use;
  for (const HeldSpan& span : held)
    if (span.in_use) in_use.add(span.memory);
  std::vector<bool> dead = dead_kernels(notes, held, in_use);
  summary.dead = std::count(dead.begin(), dead.end(), true);
  summary.updates_in_gemm = fold_updates(kernels, notes, dead, in_use);
  const std::size_t block = fusion_block();

  std::vector<std::function<void()>> program;
  program.reserve(kernels.size());
  for (std::size_t k = 0; k < kernels.size();) {
    if (dead[k]) {
      ++k;
      continue;
    }
    const std::size_t n = notes[k].access.elements;
    std::vector<std::size_t> group{k};
    std::size_t next = k + 1;
    if (notes[k].range && n > block) {
      for (; next < kernels.size(); ++next) {
        if (dead[next]) continue;
        const KernelNote& candidate = notes[next];
        if (!candidate.range || candidate.access.elements != n) break;
        if (!std::all_of(group.begin(), group.end(),
                         [&](std::size_t g) { return fusable(notes[g].access, candidate.access); }))
          break;
        group.push_back(next);
      }
    }
    if (group.size() == 1) {
      program.push_back(std::move(kernels[k]));
      ++k;
      continue;
    }
    std::vector<RangeKernel> bodies;
    for (std::size_t g : group) bodies.push_back(std::move(notes[g].range));
    summary.fused += group.size();
    ++summary.groups;
    program.push_back([bodies = std::move(bodies), n, block] {
      for (std::size_t begin = 0; begin < n; begin += block) {
        const std::size_t end = std::min(n, begin + block);
        for (const RangeKernel& body : bodies) body(begin, end);
      }
    });
    k = next;
  }
  // What the tape no longer touches (a gradient buffer its GEMM no longer writes) goes back,
  // when every kernel left says what it touches.
  std::vector<Region> touched;
  bool all_described = true;
  for (std::size_t k = 0; k < notes.size(); ++k) {
    if (dead[k]) continue;
    all_described = all_described && notes[k].described;
    for (const auto* list : {&notes[k].access.reads, &notes[k].access.writes})
      touched.insert(touched.end(), list->begin(), list->end());
  }
  if (all_described) release_untouched(capture, touched);
  kernels = std::move(program);
  notes.clear();
  notes.shrink_to_fit();
  capture.summary = summary;
}

}  // namespace tg::detail

namespace tg {

void set_fusion_block(std::size_t elements) {
  if (elements == 0) throw DomainError("set_fusion_block: a block needs at least 1 element");
  detail::g_block_elements.store(elements, std::memory_order_relaxed);
}

std::size_t fusion_block() {
  return detail::g_block_elements.load(std::memory_order_relaxed);
}

}  // namespace tg
