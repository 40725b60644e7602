/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowloop: cowfile format logic shared by the kernel module and the tools.
 *
 * Pure functions on memory: geometry, header decoding and encoding,
 * validation, fingerprint and bitmap arithmetic.  No I/O, no allocation,
 * so the same source (src/common/cowfmt.c) builds in both worlds.
 */
#ifndef _COWFMT_H
#define _COWFMT_H

#include "cowloop.h"

#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/string.h>
#include <asm/byteorder.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <endian.h>
#endif

enum cow_layout {
	COW_LAYOUT_LP64 = 1,	/* x86_64 original, and what we write */
	COW_LAYOUT_ILP32 = 2,	/* i386 original, kept when rewritten */
};

/* A header decoded into native integers. */
struct cow_hdr {
	__u32	layout;		/* enum cow_layout */
	__u16	version;
	__u16	flags;		/* COW_F_* */
	__u64	mapunit;
	__u64	mapsize;
	__u64	doffset;
	__u64	rdoblocks;
	__u64	fingerprint;	/* as stored (LP64: with sign quirk) */
	__u64	cowused;
	__u64	ext_flags;	/* COW_EXT_*, 0 without extension */
	__u64	rdosize;	/* exact rdofile bytes, 0 when unknown */
	__u64	mergefp;	/* with COW_EXT_MERGE_ANY: fingerprint once merged */
	__u64	rdoid;		/* with COW_EXT_MERGE_ANY: the rdofile, 0: unknown */
	__u64	modmap;		/* with COW_EXT_MODMAP: the modified map's offset */
};

/* Fingerprint accumulator: feed units in order until it is complete. */
struct cow_fp {
	__u32	value;
	__u32	count;
};

#define COW_FP_BYTES	4

__u64 cow_mapsize(__u64 rdoblocks);
__u64 cow_doffset(__u64 rdoblocks);
__u64 cow_rdoblocks(__u64 rdosize);
__u64 cow_cowsize(__u64 rdoblocks);
__u64 cow_modmap_off(__u64 rdoblocks);

int cow_hdr_decode(struct cow_hdr *h, const void *blk);
void cow_hdr_encode(void *blk, const struct cow_hdr *h);
void cow_hdr_init(struct cow_hdr *h, __u64 rdosize, __u32 fp);
int cow_hdr_check_state(const struct cow_hdr *h);
int cow_hdr_check_rdo(const struct cow_hdr *h, __u64 rdosize, __u32 fp);
const char *cow_strerror(int reason);

void cow_fp_init(struct cow_fp *f);
bool cow_fp_add(struct cow_fp *f, const void *unit);
bool cow_fp_done(const struct cow_fp *f);
__u64 cow_fp_stored(__u32 fp, __u32 layout);
bool cow_fp_equal(__u64 stored, __u32 fp);

bool cow_unit_zero(const void *unit);
__u64 cow_bitmap_weight(const void *map, __u64 bytes);
int cow_bitmap_check_tail(const void *map, __u64 first_unit, __u64 bytes,
			  __u64 rdoblocks);

static inline bool cow_bit_test(const __u8 *map, __u64 unit)
{
	return map[unit >> 3] & (1U << (unit & 7));
}

static inline void cow_bit_set(__u8 *map, __u64 unit)
{
	map[unit >> 3] |= 1U << (unit & 7);
}

#endif /* _COWFMT_H */
