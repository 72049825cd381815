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
  // Memory for `bytes`: a kept buffer large enough, or a new one. Uninitialized.
  explicit InputCopy(size_t bytes);
  InputCopy(InputCopy&&) noexcept = default;
  InputCopy& operator=(InputCopy&&) noexcept = default;
  ~InputCopy();  // hands the buffer back

  char* data() const { return data_.get(); }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
};

}  // namespace binding
}  // namespace fastmha
