#pragma once
// A structural check of a shared library before dlopen: glibc maps a truncated library's segments
// past the end of the file, and the first access kills the process with SIGBUS.
#include <string>

namespace am2z {

/// Why `path` cannot be a loadable shared library for this process (not ELF, another class,
/// byte order or machine, not a shared object, truncated), or "" when its headers and every
/// segment lie within the file.
std::string elf_problem(const std::string& path);

}  // namespace am2z
