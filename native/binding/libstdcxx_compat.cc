// For prebuilt Linux binaries: GCC 11+ headers make every std::vector reference std::__throw_bad_array_new_length,
// a libstdc++ symbol versioned GLIBCXX_3.4.29. Defined here, the binary needs no libstdc++ newer than GCC 7's
// (checked by test/package.test.ts), so it loads on distributions that ship an older one beside a newer glibc.
#include <new>

#if defined(__GLIBCXX__)
namespace std {
[[noreturn]] void __throw_bad_array_new_length() { throw std::bad_array_new_length(); }
}  // namespace std
#endif
