#include "plugins/elf_check.hpp"

#include <elf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace am2z {

namespace {

#if defined(__x86_64__)
constexpr int kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr int kHostMachine = EM_AARCH64;
#else
constexpr int kHostMachine = -1;  // not checked here: dlopen reports a mismatch itself
#endif

/// "[offset, offset + size) lies within a file of `file_size` bytes", without overflow.
bool within(unsigned long long offset, unsigned long long size, unsigned long long file_size) {
  return offset <= file_size && size <= file_size - offset;
}

std::string range(unsigned long long offset, unsigned long long size) {
  return "bytes " + std::to_string(offset) + "-" + std::to_string(offset + size);
}

}  // namespace

std::string elf_problem(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::strerror(errno);
  const auto file_size = static_cast<unsigned long long>(in.tellg());
  in.seekg(0);
  Elf64_Ehdr header{};
  in.read(reinterpret_cast<char*>(&header), sizeof header);
  if (in.gcount() < SELFMAG || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) return "not an ELF file";
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB) {
    return "an ELF file for another word size or byte order";
  }
  if (static_cast<unsigned long long>(in.gcount()) < sizeof header) return "truncated ELF header";
  if (header.e_type != ET_DYN) return "an ELF file that is not a shared library";
  if (kHostMachine >= 0 && header.e_machine != kHostMachine) return "an ELF file for another machine";

  const unsigned long long ph_size = 1ULL * header.e_phnum * header.e_phentsize;
  if (header.e_phentsize != sizeof(Elf64_Phdr) || !within(header.e_phoff, ph_size, file_size)) {
    return "truncated or corrupt: its program headers (" + range(header.e_phoff, ph_size) + ") are not within the " +
           std::to_string(file_size) + "-byte file";
  }
  std::vector<Elf64_Phdr> segments(header.e_phnum);
  in.seekg(static_cast<std::streamoff>(header.e_phoff));
  in.read(reinterpret_cast<char*>(segments.data()), static_cast<std::streamsize>(ph_size));
  if (!in) return "cannot read its program headers";
  for (const auto& segment : segments) {
    if (segment.p_type != PT_LOAD && segment.p_type != PT_DYNAMIC) continue;
    if (!within(segment.p_offset, segment.p_filesz, file_size)) {
      return "truncated or corrupt: a segment (" + range(segment.p_offset, segment.p_filesz) +
             ") lies beyond the end of the " + std::to_string(file_size) + "-byte file";
    }
  }
  return {};
}

}  // namespace am2z
