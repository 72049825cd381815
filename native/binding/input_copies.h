// Memory for the copies forward() makes of inputs in detachable buffers: megabytes per call for a large layer.
// Fresh memory each time costs a page fault per 4 KiB on the JS thread, about as long as the copy itself, so
// buffers are handed back when their job ends and reused, up to a bound. Shared by every environment.
#pragma once

#include <cstddef>
#include <memory>

namespace fastmha {
namespace binding {

class InputCopy {
 public:
  InputCopy() = default;
  // A copy of `bytes` at `source`, in a kept buffer large enough or a new one.
  InputCopy(const void* source, size_t bytes);
  InputCopy(InputCopy&&) noexcept = default;
  InputCopy& operator=(InputCopy&&) noexcept = default;
  ~InputCopy();  // hands the buffer back

  const char* data() const { return data_.get() + offset_; }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t offset_ = 0;  // where the copy begins in data_: at the source's offset in its 4 KiB page
};

}  // namespace binding
}  // namespace fastmha
