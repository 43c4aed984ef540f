/*
 * TCG helpers the instrumented code calls, in QEMU's DEF_HELPER notation.
 * QEMU's accel/tcg/tcg-runtime.h includes this file (patch 0002), so the
 * helper tables and gen_helper_* functions are generated with QEMU's own.
 * No include guard: it is read several times with different macros.
 *
 * Flags 0: plugin callbacks may read and write guest registers, so TCG
 * writes its register globals back before the call and reloads them after.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
DEF_HELPER_FLAGS_3(panda_invalidate_opt, 0, void, ptr, ptr, i64)
DEF_HELPER_FLAGS_3(panda_before_block_exec, 0, void, ptr, ptr, i64)
DEF_HELPER_FLAGS_3(panda_after_block_exec, 0, void, ptr, ptr, i64)
DEF_HELPER_FLAGS_3(panda_insn_exec, 0, void, ptr, i64, i64)
