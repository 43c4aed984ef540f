/*
 * TCG helpers the instrumented code calls, in QEMU's DEF_HELPER notation.
 * QEMU's accel/tcg/tcg-runtime.h includes this file (patch 0002), so the
 * helper tables and gen_helper_* functions are generated with QEMU's own.
 * No include guard: it is read several times with different macros.
 *
 * Flags 0: plugin callbacks may read and write guest registers, so TCG
 * writes its register globals back before the call and reloads them after.
 * The two hottest, before_block_exec and insn_exec, are called with
 * TCG_CALL_NO_WG instead: globals are written back (so plugins read the
 * true registers) but not reloaded; a plugin that writes a register there
 * makes the generated code call panda_restart (translate.c).
 *
 * The panda_call_* helpers are never called themselves: they give the
 * direct calls to plugin callbacks (translate.c) their calling convention,
 * and translate.c points each emitted call at the plugin's function.
 */
DEF_HELPER_FLAGS_3(panda_invalidate_opt, 0, void, ptr, ptr, i64)
DEF_HELPER_FLAGS_1(panda_next_tb, 0, ptr, ptr)
DEF_HELPER_FLAGS_3(panda_call_ptr_ptr_ptr, 0, void, ptr, ptr, ptr)
DEF_HELPER_FLAGS_2(panda_call_nowg_ptr_ptr, TCG_CALL_NO_WG, void, ptr, ptr)
DEF_HELPER_FLAGS_2(panda_call_nowg_ptr_i64, TCG_CALL_NO_WG, void, ptr, i64)
DEF_HELPER_FLAGS_4(panda_restart, 0, noreturn, ptr, i64, i64, i64)
DEF_HELPER_FLAGS_5(panda_call_nowg_mem, TCG_CALL_NO_WG, void, ptr, i64, i64, i64, ptr)
DEF_HELPER_FLAGS_3(panda_mem_probe_store, TCG_CALL_NO_WG, void, ptr, i64, i32)
DEF_HELPER_FLAGS_5(panda_mem_load, TCG_CALL_NO_WG, void, ptr, i64, i64, i32, i64)
DEF_HELPER_FLAGS_5(panda_mem_store, TCG_CALL_NO_WG, void, ptr, i64, i64, i32, i64)
