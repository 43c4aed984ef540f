// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * hpkinfo: a kernel module that prints the guest kernel's structure layout
 * as a PANDA kernelinfo.conf group, each value from the compiler's own
 * offsetof() over the kernel's headers (Debian's linux-headers package),
 * not from BTF. The Linux analysis test loads it in the guest and gives
 * what it printed to osi_linux as kconf_file=, with BTF not used, to check
 * osi_linux's profile path against the guest's /proc.
 *
 * Keys are PANDA's where PANDA has one; those PANDA lacks (the maple tree
 * of Linux 6.1, a mapping's page offset and special mappings) are named in
 * plugins/osi_linux/README.md. Each line is printed as "hpkinfo: LINE".
 */
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/maple_tree.h>
#include <linux/mm_types.h>
#include <linux/module.h>
#include <linux/path.h>
#include <linux/sched.h>
#include <linux/utsname.h>
#include <asm/current.h>

#define OFFSET(key, type, member) pr_info("hpkinfo: " key " = %zu\n", offsetof(type, member))

static int __init hpkinfo_init(void)
{
	pr_info("hpkinfo: [hpkinfo]\n");
	pr_info("hpkinfo: name = %s\n", utsname()->release);
	/* A per-CPU variable's address is its offset in the per-CPU area. */
	pr_info("hpkinfo: task.current_task_addr = 0x%lx\n", (unsigned long)&current_task);
	OFFSET("task.tasks_offset", struct task_struct, tasks);
	OFFSET("task.pid_offset", struct task_struct, pid);
	OFFSET("task.tgid_offset", struct task_struct, tgid);
	OFFSET("task.comm_offset", struct task_struct, comm);
	OFFSET("task.real_parent_offset", struct task_struct, real_parent);
	OFFSET("task.group_leader_offset", struct task_struct, group_leader);
	OFFSET("task.mm_offset", struct task_struct, mm);
	OFFSET("task.start_time_offset", struct task_struct, start_time);
	OFFSET("mm.pgd_offset", struct mm_struct, pgd);
	OFFSET("mm.mm_mt_offset", struct mm_struct, mm_mt);
	OFFSET("mm.start_brk_offset", struct mm_struct, start_brk);
	OFFSET("mm.brk_offset", struct mm_struct, brk);
	OFFSET("mm.start_stack_offset", struct mm_struct, start_stack);
	OFFSET("vma.vm_mm_offset", struct vm_area_struct, vm_mm);
	OFFSET("vma.vm_start_offset", struct vm_area_struct, vm_start);
	OFFSET("vma.vm_end_offset", struct vm_area_struct, vm_end);
	OFFSET("vma.vm_flags_offset", struct vm_area_struct, vm_flags);
	OFFSET("vma.vm_file_offset", struct vm_area_struct, vm_file);
	OFFSET("vma.vm_pgoff_offset", struct vm_area_struct, vm_pgoff);
	OFFSET("vma.vm_private_data_offset", struct vm_area_struct, vm_private_data);
	OFFSET("fs.f_path_dentry_offset", struct file, f_path.dentry);
	OFFSET("path.d_name_offset", struct dentry, d_name);
	OFFSET("path.d_parent_offset", struct dentry, d_parent);
	OFFSET("qstr.name_offset", struct qstr, name);
	OFFSET("maple.ma_root_offset", struct maple_tree, ma_root);
	OFFSET("maple.range64_pivot_offset", struct maple_range_64, pivot);
	OFFSET("maple.range64_slot_offset", struct maple_range_64, slot);
	OFFSET("maple.arange64_pivot_offset", struct maple_arange_64, pivot);
	OFFSET("maple.arange64_slot_offset", struct maple_arange_64, slot);
	OFFSET("special_mapping.name_offset", struct vm_special_mapping, name);
	OFFSET("module.state_offset", struct module, state);
	OFFSET("module.list_offset", struct module, list);
	OFFSET("module.name_offset", struct module, name);
	OFFSET("module.core_layout_base_offset", struct module, core_layout.base);
	OFFSET("module.core_layout_size_offset", struct module, core_layout.size);
	pr_info("hpkinfo: end\n");
	return 0;
}

static void __exit hpkinfo_exit(void)
{
}

module_init(hpkinfo_init);
module_exit(hpkinfo_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Prints the kernel's layout as a kernelinfo.conf group (Hypanda's tests)");
