/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cowloop: the cowfile on-disk format and the control ioctl ABI.
 *
 * This header is used verbatim by the kernel module and by the tools.
 * Everything on disk is little-endian; everything crossing the ioctl
 * boundary is fixed-width.  doc/cowfile-format.md and doc/ioctl.md
 * describe it in prose.
 */
#ifndef _COWLOOP_H
#define _COWLOOP_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define COWLOOP_VERSION		"4.0"

/* ------------------------------------------------------------------ */
/* On-disk format, version 1 (compatible with the original cowloop)  */
/* ------------------------------------------------------------------ */

#define COW_MAGIC		0x574f437fU	/* bytes 7f 43 4f 57: "\x7fCOW" */
#define COW_MAGIC_SWAPPED	0x7f434f57U	/* written on a big-endian host */
#define COW_VERSION		1
#define COW_MAPUNIT		1024U		/* bytes per unit and bit */
#define COW_MAPUNIT_SHIFT	10
#define COW_HDRSIZE		1024U		/* header block */
#define COW_DATA_ALIGN		4096U		/* doffset alignment */

#define COW_F_DIRTY		0x0001	/* not closed cleanly */
#define COW_F_PACKED		0x0002	/* written by the original cowpack */
#define COW_F_KNOWN		(COW_F_DIRTY | COW_F_PACKED)

/*
 * Largest rdofile handled: 2^44 units (16 PiB).  Keeps every offset
 * (doffset + rdoblocks * 1024) far below 2^63 and the bitmap below 2 TiB.
 */
#define COW_MAX_RDOBLOCKS	0x100000000000ULL

/* The header as the original driver wrote it on x86_64 (LP64). */
struct cow_disk_hdr64 {
	__le32	magic;
	__le16	version;
	__le16	flags;
	__le64	mapunit;
	__le64	mapsize;
	__le64	doffset;
	__le64	rdoblocks;
	__le64	rdofingerprint;
	__le64	cowused;
};					/* 56 bytes */

/* The header as the original driver wrote it on i386 (ILP32). */
struct cow_disk_hdr32 {
	__le32	magic;
	__le16	version;
	__le16	flags;
	__le32	mapunit;
	__le32	mapsize;
	__le32	doffset;
	__le32	rdoblocks;
	__le32	rdofingerprint;
	__le32	cowused;
};					/* 32 bytes */

/*
 * cowloop extension, in the part of the header block the original leaves
 * zero.  Absent (all zero) in cowfiles of the original driver.
 */
#define COW_EXT_OFFSET		512
#define COW_EXT_MAGIC		0x3158434cU	/* "LCX1" */

/*
 * ORDERED: every bitmap block on disk was written only after the data it
 * points to was durable.  A DIRTY cowfile with ORDERED set is consistent
 * up to its last flush; repairing it only needs cowused recounted.
 */
#define COW_EXT_ORDERED		0x0001ULL
/*
 * MERGING: cowmerge is writing this cowfile's units into its rdofile,
 * which is half old, half new until the merge completes; rerunning
 * cowmerge resumes it.  MERGED: the merge completed; the cowfile is of
 * no further use.  Either one comes with DIRTY in the header's flags (so
 * that the original driver, which ignores this block, refuses the
 * cowfile too) and with mergefp, the fingerprint of the rdofile as the
 * merge leaves it (which holds at any point of the merge: see
 * doc/cowfile-format.md), and usually with rdoid, a hash of rdofile
 * units the cowfile does not cover (which the merge never changes), so
 * that a merge resumes into its own rdofile only.  cowloop releases
 * before these flags refuse such a cowfile as a bad extension.
 */
#define COW_EXT_MERGING		0x0002ULL
#define COW_EXT_MERGED		0x0004ULL
#define COW_EXT_MERGE_ANY	(COW_EXT_MERGING | COW_EXT_MERGED)
/*
 * MODMAP: some units were copied from the rdofile, not modified
 * (copy-on-read, fill): a second bitmap, the modified map, at offset
 * modmap (cow_modmap_off(): after the data area), mapsize bytes, has a
 * bit set for every unit the user modified.  A unit of the bitmap whose
 * modified bit is clear holds the rdofile's data, and a merge skips it.
 * Without MODMAP every unit of the bitmap is modified.  The original
 * driver, which ignores this block, writes the header block with it
 * zero: a cowfile it used has no MODMAP any more, every unit counts as
 * modified, which loses nothing.  A DIRTY cowfile's modified map may
 * lack units rewritten since its last flush: a repair sets the bit of
 * every unit of the bitmap (see doc/cowfile-format.md).
 */
#define COW_EXT_MODMAP		0x0008ULL
#define COW_EXT_KNOWN		(COW_EXT_ORDERED | COW_EXT_MERGE_ANY | \
				 COW_EXT_MODMAP)

struct cow_disk_ext {
	__le32	magic;		/* COW_EXT_MAGIC */
	__le32	size;		/* sizeof(struct cow_disk_ext) */
	__le64	flags;		/* COW_EXT_* */
	__le64	rdosize;	/* exact byte size of the rdofile */
	__le64	mergefp;	/* MERGING/MERGED: fingerprint once merged */
	__le64	rdoid;		/* MERGING/MERGED: the rdofile, 0: unknown */
	__le64	modmap;		/* MODMAP: offset of the modified map */
	__le64	reserved[10];	/* zero */
};					/* 128 bytes */

/* ------------------------------------------------------------------ */
/* Reasons: why a cowfile or an activation was refused                */
/* ------------------------------------------------------------------ */

enum cow_reason {
	COW_OK = 0,
	COW_E_SHORT,		/* shorter than header + bitmap */
	COW_E_MAGIC,		/* not a cowfile */
	COW_E_ENDIAN,		/* written on a big-endian machine */
	COW_E_VERSION,		/* newer (or zero) version */
	COW_E_MAPUNIT,		/* mapunit is not 1024 */
	COW_E_GEOMETRY,		/* mapsize/doffset do not follow rdoblocks */
	COW_E_TOOBIG,		/* rdoblocks beyond COW_MAX_RDOBLOCKS */
	COW_E_COWUSED,		/* cowused larger than rdoblocks */
	COW_E_FLAGS,		/* unknown flag bits */
	COW_E_EXT,		/* malformed cowloop extension */
	COW_E_PACKED,		/* packed by cowpack */
	COW_E_DIRTY,		/* not closed cleanly: run cowrepair */
	COW_E_RDOBLOCKS,	/* rdofile has another number of units */
	COW_E_RDOSIZE,		/* rdofile has another exact size */
	COW_E_FINGERPRINT,	/* written for another rdofile */
	COW_E_BITMAP,		/* cowused does not match the bitmap */
	COW_E_BITMAP_TAIL,	/* bits set beyond the last unit */
	COW_E_RDOSMALL,		/* rdofile smaller than one unit */
	COW_E_RDOTYPE,		/* rdofile not a regular file or block dev */
	COW_E_COWTYPE,		/* cowfile not a regular file */
	COW_E_SAMEFILE,		/* cowfile is the rdofile */
	COW_E_INUSE,		/* cowfile active on another cowdevice */
	COW_E_DEVBUSY,		/* requested cowdevice already active */
	COW_E_DEVRANGE,		/* cowdevice number beyond maxcows */
	COW_E_NOFREE,		/* every cowdevice is in use */
	COW_E_IO,		/* I/O error on a backing file */
	COW_E_STACK,		/* rdofile is a cowdevice */
	COW_E_PATH,		/* path empty or not terminated */
	COW_E_RDOBUSY,		/* rdofile is an active cowfile */
	COW_E_COWBUSY,		/* cowfile is an active rdofile */
	COW_E_RDOBIG,		/* rdofile beyond COW_MAX_RDOBLOCKS units */
	COW_E_MERGING,		/* a merge into the rdofile is under way */
	COW_E_MERGED,		/* already merged into its rdofile */
	COW_E_TRUNCATED,	/* file ends before units its bitmap lists */
	COW_E_NOCOWFILE,	/* read-only: cowfile missing or empty */
	COW_E_ROREPAIR,		/* read-only activation cannot repair */
	COW_E_FSLIMIT,		/* its file system cannot hold it (detail) */
	COW_E_CKPTSELF,		/* checkpoint file on the cowdevice itself */
	COW_E_ROCOPY,		/* read-only activation cannot copy or fill */
	COW_E_NOTFULL,		/* standalone: the cowfile lacks units */
	COW_E_MAX
};

/* ------------------------------------------------------------------ */
/* Control ioctls on /dev/cow/ctl (CAP_SYS_ADMIN)                     */
/* ------------------------------------------------------------------ */

#define COW_CTL_NODE		"cow/ctl"	/* below /dev */
#define COW_DEV_ANY		0xffffffffU	/* first free cowdevice */
#define COW_PATH_MAX		4096
#define COW_MAXCOWS_DEFAULT	16
#define COW_MAXCOWS_LIMIT	1024

/* cow_ioc_dev.flags */
#define COW_ACT_REPAIR		0x0001	/* repair a dirty cowfile in kernel */
#define COW_ACT_PARTSCAN	0x0002	/* scan for partitions (/dev/cowNpM) */
#define COW_ACT_READONLY	0x0004	/* read-only: the cowfile is not written */
#define COW_ACT_COPYREAD	0x0008	/* units read from the rdofile are copied */
#define COW_ACT_FILL		0x0010	/* and every unit, in the background */
/* the rdofile is not opened: the cowfile must hold every unit (filled) */
#define COW_ACT_STANDALONE	0x0020
#define COW_ACT_KNOWN		(COW_ACT_REPAIR | COW_ACT_PARTSCAN | \
				 COW_ACT_READONLY | COW_ACT_COPYREAD | \
				 COW_ACT_FILL | COW_ACT_STANDALONE)

struct cow_ioc_dev {
	__u32	devno;			/* in/out: cowdevice number */
	__u32	flags;			/* in: COW_ACT_* */
	__u32	reason;			/* out: enum cow_reason on failure */
	__u32	reserved0;		/* zero */
	__u64	detail;			/* out: see COW_E_FSLIMIT; in: zero */
	__u64	reserved[5];		/* zero */
	char	rdofile[COW_PATH_MAX];	/* in: absolute path, NUL-terminated */
	char	cowfile[COW_PATH_MAX];	/* in: absolute path, NUL-terminated */
};

#define COW_IOC_MAGIC		0xC0
/* activate: devno may be COW_DEV_ANY; the chosen devno is returned */
#define COW_IOC_ACTIVATE	_IOWR(COW_IOC_MAGIC, 1, struct cow_ioc_dev)
/* deactivate devno; EBUSY while the cowdevice is open */
#define COW_IOC_DEACTIVATE	_IOWR(COW_IOC_MAGIC, 2, struct cow_ioc_dev)
/* write header and bitmap of devno (or of all with COW_DEV_ANY), clean */
#define COW_IOC_SYNC		_IOWR(COW_IOC_MAGIC, 3, struct cow_ioc_dev)
/*
 * checkpoint: a consistent copy of devno's cowfile, as a clean cowfile,
 * in a new file at the path in cowfile (it must not exist); detail: the
 * microseconds the device's I/O was held
 */
#define COW_IOC_CHECKPOINT	_IOWR(COW_IOC_MAGIC, 4, struct cow_ioc_dev)

#endif /* _COWLOOP_H */
