// kernel.h — registers a Metal kernel (compiled as C++ against emulate/metal_stdlib)
// with the emulator, with an adapter that maps bindings / push constants / grid onto
// its parameters by type.
#pragma once
#include <metal_stdlib>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace emu {
using Launch = void (*)(void **bufs, const void *push, metal::uint3 tg, metal::uint3 ntg, uint lid);
void add_kernel(const char *name, Launch launch, int n_bufs, bool barrier);

template <class T> T arg(void **b, const void *p, metal::uint3 tg, metal::uint3 ntg, uint lid, size_t i, size_t n) {
    if constexpr (std::is_pointer<T>::value) return static_cast<T>(b[i]);
    else if constexpr (std::is_reference<T>::value) return *static_cast<const std::remove_reference_t<T> *>(p);
    else if constexpr (std::is_same<T, metal::uint3>::value) return i == n - 3 ? tg : ntg;
    else return lid;
}
template <class... A, size_t... I>
void call(void (*fn)(A...), std::index_sequence<I...>, void **b, const void *p, metal::uint3 tg, metal::uint3 ntg,
          uint lid) {
    fn(arg<A>(b, p, tg, ntg, lid, I, sizeof...(A))...);
}
template <class... A> constexpr int n_pointers(void (*)(A...)) { return (0 + ... + (std::is_pointer<A>::value ? 1 : 0)); }
template <class... A> constexpr size_t n_args(void (*)(A...)) { return sizeof...(A); }
template <auto F> void launch_f(void **b, const void *p, metal::uint3 tg, metal::uint3 ntg, uint lid) {
    call(F, std::make_index_sequence<n_args(F)>(), b, p, tg, ntg, lid);
}
struct Reg {
    template <class... A> Reg(const char *name, Launch l, void (*fn)(A...), bool barrier) {
        add_kernel(name, l, n_pointers(fn), barrier);
    }
};
} // namespace emu
