// The forwarding Runtime (runtime.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "runtime.h"

namespace hypanda::taint2 {
namespace {

TaintState* state;

void rt_copy(uint8_t ds, uint64_t d, uint8_t ss, uint64_t s, uint64_t n) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->copy({static_cast<Space>(ds), d}, {static_cast<Space>(ss), s}, n);
}
void rt_clear(uint8_t ds, uint64_t d, uint64_t n) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->clear({static_cast<Space>(ds), d}, n);
}
void rt_parallel(uint8_t ds, uint64_t d, uint8_t as, uint64_t a, uint8_t bs, uint64_t b,
                 uint64_t n) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->parallel({static_cast<Space>(ds), d}, {static_cast<Space>(as), a},
                    {static_cast<Space>(bs), b}, n);
}
void rt_mix(uint8_t ds, uint64_t d, uint64_t n, uint8_t as, uint64_t a, uint64_t na, uint8_t bs,
            uint64_t b, uint64_t nb) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->mix({static_cast<Space>(ds), d}, n, {static_cast<Space>(as), a}, na,
               {static_cast<Space>(bs), b}, nb);
}
void rt_guest_load(uint64_t dst, uint64_t n, void* env, uint64_t vaddr, uint32_t oi,
                   uint64_t addr_slot, uint64_t pc) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->guest_load(dst, n, env, vaddr, oi, addr_slot, pc);
}
void rt_guest_store(void* env, uint64_t vaddr, uint64_t src, uint32_t oi, uint64_t addr_slot,
                    uint64_t pc) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->guest_store(env, vaddr, src, oi, addr_slot, pc);
}
void rt_branch(void* env, uint64_t slot, uint64_t n, uint64_t pc, uint8_t kind) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->branch(env, slot, n, pc, static_cast<TaintState::Transfer>(kind));
}

void rt_host_load(uint64_t dst, uint64_t n, void* ptr, uint64_t addr_slot) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->host_load(dst, n, ptr, addr_slot);
}
void rt_host_store(void* ptr, uint64_t src, uint64_t n, uint64_t addr_slot) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->host_store(ptr, src, n, addr_slot);
}
void rt_host_copy(void* dst, void* src, uint64_t n) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->copy(state->host_place(dst), state->host_place(src), n);
}
void rt_host_clear(void* dst, uint64_t n) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    state->clear(state->host_place(dst), n);
}

uint64_t returned_from;

void rt_call_result(uint64_t dst, uint64_t n, uint64_t frame, uint64_t a, uint64_t n_a, uint64_t b,
                    uint64_t n_b) {
    if (state == nullptr || state->all_clean()) {
        return;  // taint off, or nothing tainted yet
    }
    if (returned_from == frame) {
        state->copy({Space::kSlot, dst}, {Space::kSlot, frame}, n);
    } else {
        state->mix({Space::kSlot, dst}, n, {Space::kSlot, a}, n_a, {Space::kSlot, b}, n_b);
    }
}

const Runtime kForwarding = {rt_copy,       rt_clear,       rt_parallel,   rt_mix,
                             rt_guest_load, rt_guest_store, rt_branch,     rt_host_load,
                             rt_host_store, rt_host_copy,   rt_host_clear, rt_call_result,
                             &returned_from};

}  // namespace

void forward_to(TaintState* s) {
    state = s;
}

const Runtime& forwarding_runtime() {
    return kForwarding;
}

}  // namespace hypanda::taint2
