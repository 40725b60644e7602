// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: cowfile format logic shared by the kernel module and the tools.
 * See doc/cowfile-format.md.
 */
#include "cowfmt.h"

#ifndef __KERNEL__
#define le16_to_cpu(x)	le16toh(x)
#define le32_to_cpu(x)	le32toh(x)
#define le64_to_cpu(x)	le64toh(x)
#define cpu_to_le16(x)	htole16(x)
#define cpu_to_le32(x)	htole32(x)
#define cpu_to_le64(x)	htole64(x)
#define hweight64(x)	((__u64)__builtin_popcountll(x))
#define hweight8(x)	((__u64)__builtin_popcount(x))
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

static __u64 cow_div_up(__u64 x, __u64 y)
{
	return (x + y - 1) / y;
}

__u64 cow_mapsize(__u64 rdoblocks)
{
	return cow_div_up(cow_div_up(rdoblocks, 8), COW_MAPUNIT) * COW_MAPUNIT;
}

__u64 cow_doffset(__u64 rdoblocks)
{
	return cow_div_up(COW_HDRSIZE + cow_mapsize(rdoblocks),
			  COW_DATA_ALIGN) * COW_DATA_ALIGN;
}

/* A trailing partial unit of the rdofile is not part of the device. */
__u64 cow_rdoblocks(__u64 rdosize)
{
	return rdosize >> COW_MAPUNIT_SHIFT;
}

/* Logical size of a cowfile whose every unit was written. */
__u64 cow_cowsize(__u64 rdoblocks)
{
	return cow_doffset(rdoblocks) + (rdoblocks << COW_MAPUNIT_SHIFT);
}

/* Where the modified map (COW_EXT_MODMAP) begins: after the data area. */
__u64 cow_modmap_off(__u64 rdoblocks)
{
	return cow_div_up(cow_cowsize(rdoblocks), COW_DATA_ALIGN) *
		COW_DATA_ALIGN;
}

static void cow_ext_decode(struct cow_hdr *h, const struct cow_disk_ext *e)
{
	h->ext_flags = le64_to_cpu(e->flags);
	h->rdosize = le64_to_cpu(e->rdosize);
	h->mergefp = le64_to_cpu(e->mergefp);
	h->rdoid = le64_to_cpu(e->rdoid);
	h->modmap = le64_to_cpu(e->modmap);
}

static int cow_ext_check(const struct cow_hdr *h, const struct cow_disk_ext *e)
{
	static const struct cow_disk_ext zero;
	unsigned int i;

	if (!memcmp(e, &zero, sizeof(zero)))
		return COW_OK;
	if (le32_to_cpu(e->magic) != COW_EXT_MAGIC ||
	    le32_to_cpu(e->size) != sizeof(*e))
		return COW_E_EXT;
	for (i = 0; i < ARRAY_SIZE(e->reserved); i++)
		if (e->reserved[i])
			return COW_E_EXT;
	if (h->ext_flags & ~COW_EXT_KNOWN)
		return COW_E_EXT;
	/* a merge: one state at a time, DIRTY for the original driver */
	if ((h->ext_flags & COW_EXT_MERGE_ANY) == COW_EXT_MERGE_ANY)
		return COW_E_EXT;
	if ((h->ext_flags & COW_EXT_MERGE_ANY) && !(h->flags & COW_F_DIRTY))
		return COW_E_EXT;
	if (!(h->ext_flags & COW_EXT_MERGE_ANY) && (h->mergefp || h->rdoid))
		return COW_E_EXT;
	if (h->mergefp > 0xffffffffULL)
		return COW_E_EXT;
	/* the modified map: where it belongs, or none */
	if (!(h->ext_flags & COW_EXT_MODMAP) != !h->modmap ||
	    (h->modmap && h->modmap != cow_modmap_off(h->rdoblocks)))
		return COW_E_EXT;
	if (h->rdosize && cow_rdoblocks(h->rdosize) != h->rdoblocks)
		return COW_E_EXT;
	return COW_OK;
}

static int cow_geometry_check(const struct cow_hdr *h)
{
	if (h->mapunit != COW_MAPUNIT)
		return COW_E_MAPUNIT;
	if (h->rdoblocks > COW_MAX_RDOBLOCKS)
		return COW_E_TOOBIG;
	if (h->mapsize != cow_mapsize(h->rdoblocks) ||
	    h->doffset != cow_doffset(h->rdoblocks))
		return COW_E_GEOMETRY;
	if (h->cowused > h->rdoblocks)
		return COW_E_COWUSED;
	if (h->flags & ~COW_F_KNOWN)
		return COW_E_FLAGS;
	return COW_OK;
}

/*
 * Decode and validate the 1 KiB header block @blk.  Returns COW_OK or the
 * reason the block is not a usable cowfile header.  DIRTY and PACKED are
 * states, not defects: see cow_hdr_check_state().
 */
int cow_hdr_decode(struct cow_hdr *h, const void *blk)
{
	const struct cow_disk_hdr64 *d64 = blk;
	const struct cow_disk_hdr32 *d32 = blk;
	const struct cow_disk_ext *e = (const void *)((const char *)blk +
						      COW_EXT_OFFSET);
	__u32 magic = le32_to_cpu(d64->magic);

	memset(h, 0, sizeof(*h));
	if (magic == COW_MAGIC_SWAPPED)
		return COW_E_ENDIAN;
	if (magic != COW_MAGIC)
		return COW_E_MAGIC;
	h->version = le16_to_cpu(d64->version);
	h->flags = le16_to_cpu(d64->flags);
	if (h->version == 0 || h->version > COW_VERSION)
		return COW_E_VERSION;

	if (le64_to_cpu(d64->mapunit) == COW_MAPUNIT) {
		h->layout = COW_LAYOUT_LP64;
		h->mapunit = le64_to_cpu(d64->mapunit);
		h->mapsize = le64_to_cpu(d64->mapsize);
		h->doffset = le64_to_cpu(d64->doffset);
		h->rdoblocks = le64_to_cpu(d64->rdoblocks);
		h->fingerprint = le64_to_cpu(d64->rdofingerprint);
		h->cowused = le64_to_cpu(d64->cowused);
	} else if (le32_to_cpu(d32->mapunit) == COW_MAPUNIT &&
		   le32_to_cpu(d32->mapsize) != 0) {
		h->layout = COW_LAYOUT_ILP32;
		h->mapunit = le32_to_cpu(d32->mapunit);
		h->mapsize = le32_to_cpu(d32->mapsize);
		h->doffset = le32_to_cpu(d32->doffset);
		h->rdoblocks = le32_to_cpu(d32->rdoblocks);
		h->fingerprint = le32_to_cpu(d32->rdofingerprint);
		h->cowused = le32_to_cpu(d32->cowused);
	} else {
		return COW_E_MAPUNIT;
	}
	cow_ext_decode(h, e);
	if (cow_ext_check(h, e))
		return COW_E_EXT;
	return cow_geometry_check(h);
}

/* Encode @h into the 1 KiB block @blk, in @h's layout, rest zero. */
void cow_hdr_encode(void *blk, const struct cow_hdr *h)
{
	struct cow_disk_hdr64 *d64 = blk;
	struct cow_disk_hdr32 *d32 = blk;
	struct cow_disk_ext *e = (void *)((char *)blk + COW_EXT_OFFSET);

	memset(blk, 0, COW_HDRSIZE);
	d64->magic = cpu_to_le32(COW_MAGIC);
	d64->version = cpu_to_le16(h->version);
	d64->flags = cpu_to_le16(h->flags);
	if (h->layout == COW_LAYOUT_ILP32) {
		d32->mapunit = cpu_to_le32((__u32)h->mapunit);
		d32->mapsize = cpu_to_le32((__u32)h->mapsize);
		d32->doffset = cpu_to_le32((__u32)h->doffset);
		d32->rdoblocks = cpu_to_le32((__u32)h->rdoblocks);
		d32->rdofingerprint = cpu_to_le32((__u32)h->fingerprint);
		d32->cowused = cpu_to_le32((__u32)h->cowused);
	} else {
		d64->mapunit = cpu_to_le64(h->mapunit);
		d64->mapsize = cpu_to_le64(h->mapsize);
		d64->doffset = cpu_to_le64(h->doffset);
		d64->rdoblocks = cpu_to_le64(h->rdoblocks);
		d64->rdofingerprint = cpu_to_le64(h->fingerprint);
		d64->cowused = cpu_to_le64(h->cowused);
	}
	if (h->ext_flags || h->rdosize) {
		e->magic = cpu_to_le32(COW_EXT_MAGIC);
		e->size = cpu_to_le32(sizeof(*e));
		e->flags = cpu_to_le64(h->ext_flags);
		e->rdosize = cpu_to_le64(h->rdosize);
		e->mergefp = cpu_to_le64(h->mergefp);
		e->rdoid = cpu_to_le64(h->rdoid);
		e->modmap = cpu_to_le64(h->modmap);
	}
}

/* A fresh header for an rdofile of @rdosize bytes and fingerprint @fp. */
void cow_hdr_init(struct cow_hdr *h, __u64 rdosize, __u32 fp)
{
	memset(h, 0, sizeof(*h));
	h->layout = COW_LAYOUT_LP64;
	h->version = COW_VERSION;
	h->mapunit = COW_MAPUNIT;
	h->rdoblocks = cow_rdoblocks(rdosize);
	h->mapsize = cow_mapsize(h->rdoblocks);
	h->doffset = cow_doffset(h->rdoblocks);
	h->fingerprint = cow_fp_stored(fp, h->layout);
	h->ext_flags = COW_EXT_ORDERED;
	h->rdosize = rdosize;
}

/* May a decoded header be activated or merged as it is? */
int cow_hdr_check_state(const struct cow_hdr *h)
{
	/* before DIRTY, which a merge sets too: no repair may clear it */
	if (h->ext_flags & COW_EXT_MERGING)
		return COW_E_MERGING;
	if (h->ext_flags & COW_EXT_MERGED)
		return COW_E_MERGED;
	if (h->flags & COW_F_PACKED)
		return COW_E_PACKED;
	if (h->flags & COW_F_DIRTY)
		return COW_E_DIRTY;
	return COW_OK;
}

/* Does a decoded header belong to an rdofile of @rdosize bytes, @fp? */
int cow_hdr_check_rdo(const struct cow_hdr *h, __u64 rdosize, __u32 fp)
{
	if (cow_rdoblocks(rdosize) != h->rdoblocks)
		return COW_E_RDOBLOCKS;
	if (h->rdosize && h->rdosize != rdosize)
		return COW_E_RDOSIZE;
	if (!cow_fp_equal(h->fingerprint, fp))
		return COW_E_FINGERPRINT;
	return COW_OK;
}

static const char *const cow_reasons[COW_E_MAX] = {
	[COW_OK]		= "success",
	[COW_E_SHORT]		= "file too short for its header and bitmap",
	[COW_E_MAGIC]		= "not a cowfile (bad magic number)",
	[COW_E_ENDIAN]		= "cowfile written on a big-endian machine (not supported)",
	[COW_E_VERSION]		= "unsupported header version (only version 1 is known)",
	[COW_E_MAPUNIT]		= "corrupt header (mapunit is not 1024)",
	[COW_E_GEOMETRY]	= "corrupt header (mapsize or data offset do not match the size)",
	[COW_E_TOOBIG]		= "corrupt header (rdofile size beyond 16 PiB)",
	[COW_E_COWUSED]		= "corrupt header (more cowblocks in use than the rdofile has)",
	[COW_E_FLAGS]		= "corrupt header (unknown flags)",
	[COW_E_EXT]		= "corrupt header (bad cowloop extension block)",
	[COW_E_PACKED]		= "cowfile is packed (cannot be used)",
	[COW_E_DIRTY]		= "cowfile is dirty (not closed properly): run cowrepair first",
	[COW_E_RDOBLOCKS]	= "written for an rdofile of another size",
	[COW_E_RDOSIZE]		= "written for an rdofile of another exact size",
	[COW_E_FINGERPRINT]	= "written for a different rdofile (fingerprint mismatch)",
	[COW_E_BITMAP]		= "cowblocks in use does not match the bitmap: run cowrepair -f",
	[COW_E_BITMAP_TAIL]	= "bitmap has bits set beyond the last block: run cowrepair -f",
	[COW_E_RDOSMALL]	= "rdofile is smaller than one 1 KiB block",
	[COW_E_RDOTYPE]		= "rdofile is neither a regular file nor a block device",
	[COW_E_COWTYPE]		= "cowfile is not a regular file",
	[COW_E_SAMEFILE]	= "cowfile and rdofile are the same file",
	[COW_E_INUSE]		= "cowfile is already active on another cowdevice",
	[COW_E_DEVBUSY]		= "cowdevice is already active",
	[COW_E_DEVRANGE]	= "no such cowdevice (beyond maxcows)",
	[COW_E_NOFREE]		= "all cowdevices are in use (see maxcows)",
	[COW_E_IO]		= "I/O error on a backing file",
	[COW_E_STACK]		= "rdofile is a cowdevice itself (stacking is not supported)",
	[COW_E_PATH]		= "file name empty, relative or too long",
	[COW_E_RDOBUSY]		= "rdofile is the cowfile of an active cowdevice",
	[COW_E_COWBUSY]		= "cowfile is the rdofile of an active cowdevice",
	[COW_E_RDOBIG]		= "rdofile larger than 16 PiB, the largest a cowfile can describe",
	[COW_E_MERGING]		=
		"a merge into the rdofile is under way: run the same cowmerge command again to complete it",
	[COW_E_MERGED]		= "already merged into its rdofile (no longer usable)",
	[COW_E_TRUNCATED]	= "cowfile truncated: it ends before blocks its bitmap lists",
	[COW_E_NOCOWFILE]	= "cowfile missing or empty (a read-only activation creates none)",
	[COW_E_ROREPAIR]	= "a read-only activation cannot repair the cowfile",
	[COW_E_FSLIMIT]		= "the cowfile's file system cannot hold a cowfile this large",
	[COW_E_CKPTSELF]	= "the checkpoint file is on the cowdevice itself",
	[COW_E_ROCOPY]		= "a read-only activation cannot copy into its cowfile",
	[COW_E_NOTFULL]		= "without its rdofile, a cowfile must hold every block (filled)",
};

const char *cow_strerror(int reason)
{
	if (reason < 0 || reason >= COW_E_MAX || !cow_reasons[reason])
		return "unknown reason";
	return cow_reasons[reason];
}

void cow_fp_init(struct cow_fp *f)
{
	f->value = 0;
	f->count = 0;
}

/*
 * Feed the next 1 KiB unit.  A unit whose byte sum is 0 modulo 256 is
 * skipped (probably zeroes).  Returns true once four sums are collected.
 */
bool cow_fp_add(struct cow_fp *f, const void *unit)
{
	const __u8 *p = unit;
	unsigned int i;
	__u8 cs = 0;

	if (cow_fp_done(f))
		return true;
	for (i = 0; i < COW_MAPUNIT; i++)
		cs += p[i];
	if (cs) {
		f->value |= (__u32)cs << (8 * f->count);
		f->count++;
	}
	return cow_fp_done(f);
}

bool cow_fp_done(const struct cow_fp *f)
{
	return f->count >= COW_FP_BYTES;
}

/*
 * The value the original stored: on x86_64 the fourth byte was shifted as
 * a signed int and sign-extended into the 64-bit field.
 */
__u64 cow_fp_stored(__u32 fp, __u32 layout)
{
	if (layout == COW_LAYOUT_LP64 && (fp & 0x80000000U))
		return 0xffffffff00000000ULL | fp;
	return fp;
}

/* Only the low 32 bits carry information, whatever the layout. */
bool cow_fp_equal(__u64 stored, __u32 fp)
{
	return (__u32)stored == fp;
}

bool cow_unit_zero(const void *unit)
{
	const __u64 *p = unit;
	unsigned int i;

	for (i = 0; i < COW_MAPUNIT / sizeof(*p); i++)
		if (p[i])
			return false;
	return true;
}

/* Number of bits set in @bytes bytes of bitmap (any length). */
__u64 cow_bitmap_weight(const void *map, __u64 bytes)
{
	const __u8 *p = map;
	__u64 i, n = 0, w;

	for (i = 0; i + sizeof(w) <= bytes; i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		n += hweight64(w);
	}
	for (; i < bytes; i++)
		n += hweight8(p[i]);
	return n;
}

/*
 * @map holds @bytes bytes of bitmap starting at unit @first_unit (a
 * multiple of 8).  Bits for units at or beyond @rdoblocks must be clear.
 */
int cow_bitmap_check_tail(const void *map, __u64 first_unit, __u64 bytes,
			  __u64 rdoblocks)
{
	const __u8 *p = map;
	__u64 u, end = first_unit + bytes * 8;

	if (end <= rdoblocks)
		return COW_OK;
	u = rdoblocks > first_unit ? rdoblocks : first_unit;
	for (; u < end && (u & 7); u++)
		if (cow_bit_test(p, u - first_unit))
			return COW_E_BITMAP_TAIL;
	for (; u < end; u += 8)
		if (p[(u - first_unit) >> 3])
			return COW_E_BITMAP_TAIL;
	return COW_OK;
}
