/*
 * The SDK's guest-state accessors on QEMU: registers (x86), PC, privilege
 * level, address space and translation blocks. Shared by the system
 * emulator and linux-user; guest memory is in guest_memory.c (system) and
 * user.c (linux-user).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "cpu.h"
#include "exec/exec-all.h"
#include "tcg/tcg-op.h"

#include "hypanda/tcg-instrument/hooks/hooks.h"
#include "hypanda/tcg-instrument/runtime/runtime.h"

static CPUX86State *x86_env(CPUState *cpu)
{
    return &container_of(cpu, X86CPU, parent_obj)->env;
}

int panda_reg_read(CPUState *cpu, panda_reg reg, uint64_t *value)
{
    if (cpu == NULL || value == NULL) {
        return -1;
    }
    CPUX86State *env = x86_env(cpu);
    if (reg >= PANDA_REG_X86_RAX && reg <= PANDA_REG_X86_R15) {
        *value = env->regs[reg - PANDA_REG_X86_RAX];
        return 0;
    }
    switch (reg) {
    case PANDA_REG_PC: *value = panda_current_pc(cpu); return 0;
    case PANDA_REG_SP: *value = env->regs[R_ESP]; return 0;
    case PANDA_REG_RETVAL: *value = env->regs[R_EAX]; return 0;
    case PANDA_REG_X86_RIP: *value = panda_current_pc(cpu) - env->segs[R_CS].base; return 0;
    case PANDA_REG_X86_RFLAGS: *value = cpu_compute_eflags(env); return 0;
    case PANDA_REG_X86_CR0: *value = env->cr[0]; return 0;
    case PANDA_REG_X86_CR2: *value = env->cr[2]; return 0;
    case PANDA_REG_X86_CR3: *value = env->cr[3]; return 0;
    case PANDA_REG_X86_CR4: *value = env->cr[4]; return 0;
    case PANDA_REG_X86_EFER: *value = env->efer; return 0;
    case PANDA_REG_X86_CS: *value = env->segs[R_CS].selector; return 0;
    case PANDA_REG_X86_SS: *value = env->segs[R_SS].selector; return 0;
    case PANDA_REG_X86_FS_BASE: *value = env->segs[R_FS].base; return 0;
    case PANDA_REG_X86_GS_BASE: *value = env->segs[R_GS].base; return 0;
    case PANDA_REG_X86_KERNEL_GS_BASE: *value = env->kernelgsbase; return 0;
    default: return -1;
    }
}

int panda_reg_write(CPUState *cpu, panda_reg reg, uint64_t value)
{
    if (cpu == NULL) {
        return -1;
    }
    CPUX86State *env = x86_env(cpu);
    target_ulong *slot;
    if (reg >= PANDA_REG_X86_RAX && reg <= PANDA_REG_X86_R15) {
        slot = &env->regs[reg - PANDA_REG_X86_RAX];
    } else if (reg == PANDA_REG_SP) {
        slot = &env->regs[R_ESP];
    } else if (reg == PANDA_REG_RETVAL) {
        slot = &env->regs[R_EAX];
    } else {
        return -1; /* PC, flags, control and segment registers: read-only */
    }
    if (!hypanda_note_register_write(cpu)) {
        static bool said;
        if (!said) {
            said = true;
            error_report("panda_reg_write: registers cannot be written from a memory callback "
                         "(the instruction is half done); write them from insn_exec instead");
        }
        return -1;
    }
    *slot = value;
    return 0;
}

static const struct {
    const char *name;
    panda_reg reg;
} reg_names[] = {
    {"pc", PANDA_REG_PC}, {"sp", PANDA_REG_SP}, {"retval", PANDA_REG_RETVAL},
    {"rax", PANDA_REG_X86_RAX}, {"rcx", PANDA_REG_X86_RCX}, {"rdx", PANDA_REG_X86_RDX},
    {"rbx", PANDA_REG_X86_RBX}, {"rsp", PANDA_REG_X86_RSP}, {"rbp", PANDA_REG_X86_RBP},
    {"rsi", PANDA_REG_X86_RSI}, {"rdi", PANDA_REG_X86_RDI}, {"r8", PANDA_REG_X86_R8},
    {"r9", PANDA_REG_X86_R9}, {"r10", PANDA_REG_X86_R10}, {"r11", PANDA_REG_X86_R11},
    {"r12", PANDA_REG_X86_R12}, {"r13", PANDA_REG_X86_R13}, {"r14", PANDA_REG_X86_R14},
    {"r15", PANDA_REG_X86_R15}, {"rip", PANDA_REG_X86_RIP}, {"rflags", PANDA_REG_X86_RFLAGS},
    {"cr0", PANDA_REG_X86_CR0}, {"cr2", PANDA_REG_X86_CR2}, {"cr3", PANDA_REG_X86_CR3},
    {"cr4", PANDA_REG_X86_CR4}, {"efer", PANDA_REG_X86_EFER}, {"cs", PANDA_REG_X86_CS},
    {"ss", PANDA_REG_X86_SS}, {"fs_base", PANDA_REG_X86_FS_BASE},
    {"gs_base", PANDA_REG_X86_GS_BASE}, {"kernel_gs_base", PANDA_REG_X86_KERNEL_GS_BASE},
};

int panda_reg_from_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < ARRAY_SIZE(reg_names); i++) {
        if (strcmp(reg_names[i].name, name) == 0) {
            return reg_names[i].reg;
        }
    }
    return -1;
}

target_ulong panda_current_pc(CPUState *cpu)
{
    uint64_t pc;
    if (hypanda_cb_pc_valid) {
        return hypanda_cb_pc;
    }
    if (cpu->hypanda_cb_pc_valid) {
        return cpu->hypanda_cb_pc;
    }
    if (hypanda_precise_pc_value(cpu, &pc)) {
        return pc;
    }
    CPUX86State *env = x86_env(cpu);
    return env->eip + env->segs[R_CS].base;
}

/* QEMU 7.2's x86 translator keeps EIP in a TCG global (static in its
 * translate.c). The translator sets it before each exit and each helper
 * that needs it, and QEMU restores it from the block when an exception
 * interrupts one, so setting it to its true value at an instruction
 * boundary is always safe, as long as it is set through that global: TCG
 * may hold the global in a host register, and a raw store to its memory
 * would be overwritten or ignored. The global is found once, by its
 * place in CPUX86State; globals are the same in every thread's context. */
static TCGv_i64 eip_global(void)
{
    static TCGv_i64 eip;
    if (eip == NULL) {
        for (int i = 0; i < tcg_ctx->nb_globals; i++) {
            TCGTemp *ts = &tcg_ctx->temps[i];
            if (ts->mem_base != NULL && ts->mem_base == tcgv_ptr_temp(cpu_env) &&
                ts->mem_offset == offsetof(CPUX86State, eip) && ts->type == TCG_TYPE_I64) {
                eip = temp_tcgv_i64(ts);
                break;
            }
        }
        g_assert(eip != NULL && "no TCG global for EIP");
    }
    return eip;
}

void hypanda_gen_store_guest_pc(TranslationBlock *tb, uint64_t pc)
{
    tcg_gen_movi_i64(eip_global(), pc - tb->cs_base);
}

void hypanda_set_instruction_start(CPUState *cpu, uint64_t pc, uint64_t insn_data)
{
    CPUX86State *env = x86_env(cpu);
    env->eip = pc - env->segs[R_CS].base;
    /* The translator's cc_op at the instruction, as restore_state_to_opc
     * applies it. */
    if (insn_data != HYPANDA_NO_INSN_DATA && insn_data != CC_OP_DYNAMIC) {
        env->cc_op = insn_data;
    }
}

int panda_privilege_level(CPUState *cpu)
{
    return x86_env(cpu)->hflags & HF_CPL_MASK;
}

bool panda_in_kernel(CPUState *cpu)
{
    return panda_privilege_level(cpu) == 0;
}

target_ulong panda_current_asid(CPUState *cpu)
{
    return x86_env(cpu)->cr[3];
}

int panda_cpu_index(CPUState *cpu)
{
    return cpu->cpu_index;
}

CPUState *panda_cpu_from_env(void *env)
{
    return env_cpu((CPUArchState *)env);
}

CPUState *panda_cpu_by_index(int index)
{
    return index >= 0 ? qemu_get_cpu(index) : NULL;
}

void *panda_cpu_env(CPUState *cpu, size_t *size)
{
    *size = sizeof(CPUArchState);
    return cpu->env_ptr;
}

long panda_reg_env_offset(int reg)
{
    if (reg >= PANDA_REG_X86_RAX && reg <= PANDA_REG_X86_R15) {
        return offsetof(CPUX86State, regs[reg - PANDA_REG_X86_RAX]);
    }
    return reg == PANDA_REG_X86_RIP ? (long)offsetof(CPUX86State, eip) : -1;
}

target_ulong panda_tb_pc(const TranslationBlock *tb)
{
    return tb->pc;
}

uint32_t panda_tb_size(const TranslationBlock *tb)
{
    return tb->size;
}

uint32_t panda_tb_icount(const TranslationBlock *tb)
{
    return tb->icount;
}
