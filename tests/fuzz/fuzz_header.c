// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the cowfile header and bitmap validation shared by the
 * driver and the tools (src/common/cowfmt.c), and the tools' way in
 * (cow_open, cow_map_load, cow_map_check of src/lib/cowfile.c).
 *
 * An input is the head of a cowfile: bytes 0..1023 the header block
 * (zero-padded when shorter), the rest the bitmap.  Besides the sanitizers
 * (ASan, UBSan) the target asserts properties the driver relies on; a
 * violation aborts with "property violated: ..." and libFuzzer keeps the
 * input as a crash artifact.  Built and run by tests/fuzz/run.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "cowlib.h"

#define PROP(cond) do { if (!(cond)) { \
	fprintf(stderr, "property violated: %s (%s:%d)\n", #cond, \
		__FILE__, __LINE__); abort(); } } while (0)

/*
 * The library's message functions (src/lib/cli.c is not linked): count
 * the messages instead of printing them, and keep the last one.
 */
const char *cow_progname = "fuzz";
static unsigned int nmsg;
static char lastmsg[256];

void cow_err(const char *file, const char *fmt, ...)
{
	va_list ap;

	(void)file;
	va_start(ap, fmt);
	vsnprintf(lastmsg, sizeof(lastmsg), fmt, ap);
	va_end(ap);
	nmsg++;
}

void cow_err_errno(const char *file, const char *what)
{
	cow_err(file, "%s: %s", what ? what : "", strerror(errno));
}

void cow_err_reason(const char *file, int reason, const char *fmt, ...)
{
	(void)fmt;
	cow_err(file, "%s", cow_strerror(reason));
}

const char *cow_plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Reference implementations, bit by bit. */
static uint64_t ref_weight(const uint8_t *p, uint64_t bytes)
{
	uint64_t i, n = 0;
	unsigned int b;

	for (i = 0; i < bytes; i++)
		for (b = 0; b < 8; b++)
			n += (p[i] >> b) & 1;
	return n;
}

static int ref_tail(const uint8_t *p, uint64_t first, uint64_t bytes,
		    uint64_t rdoblocks)
{
	uint64_t i;

	for (i = 0; i < bytes * 8; i++)
		if (first + i >= rdoblocks && ((p[i >> 3] >> (i & 7)) & 1))
			return COW_E_BITMAP_TAIL;
	return COW_OK;
}

static void check_geometry(uint64_t rdoblocks)
{
	uint64_t ms, doff;

	if (rdoblocks > COW_MAX_RDOBLOCKS)
		return;
	ms = cow_mapsize(rdoblocks);
	doff = cow_doffset(rdoblocks);
	PROP(ms % COW_MAPUNIT == 0);
	PROP(ms / 8 * 64 >= rdoblocks);		/* one bit per unit */
	PROP(ms <= rdoblocks / 8 + COW_MAPUNIT);	/* and not much more */
	PROP(ms <= (COW_MAX_RDOBLOCKS >> 3));		/* 2 TiB at most */
	PROP(doff % COW_DATA_ALIGN == 0);
	PROP(doff >= COW_HDRSIZE + ms);
	PROP(doff - (COW_HDRSIZE + ms) < COW_DATA_ALIGN);
	/* the last byte of the data area fits in a loff_t, with room */
	PROP(rdoblocks <= (UINT64_MAX >> COW_MAPUNIT_SHIFT));
	PROP(doff <= INT64_MAX - (rdoblocks << COW_MAPUNIT_SHIFT));
	PROP(cow_cowsize(rdoblocks) < (1ULL << 62));
	PROP(cow_rdoblocks(rdoblocks << COW_MAPUNIT_SHIFT) == rdoblocks);
}

static bool same_hdr(const struct cow_hdr *a, const struct cow_hdr *b)
{
	return a->layout == b->layout && a->version == b->version &&
	       a->flags == b->flags && a->mapunit == b->mapunit &&
	       a->mapsize == b->mapsize && a->doffset == b->doffset &&
	       a->rdoblocks == b->rdoblocks &&
	       a->fingerprint == b->fingerprint &&
	       a->cowused == b->cowused && a->ext_flags == b->ext_flags &&
	       a->rdosize == b->rdosize && a->mergefp == b->mergefp &&
	       a->rdoid == b->rdoid;
}

static void check_header(const uint8_t *blk, int r, const struct cow_hdr *h)
{
	static uint8_t blk2[COW_HDRSIZE] __attribute__((aligned(8)));
	struct cow_hdr h2;
	uint64_t rdosize;
	uint32_t fp;
	int s;

	PROP(r >= 0 && r < COW_E_MAX);
	PROP(strcmp(cow_strerror(r), "unknown reason") != 0);
	if (r != COW_OK)
		return;

	/* Nothing the driver would compute from it can be huge. */
	PROP(h->layout == COW_LAYOUT_LP64 || h->layout == COW_LAYOUT_ILP32);
	PROP(h->version >= 1 && h->version <= COW_VERSION);
	PROP(h->mapunit == COW_MAPUNIT);
	PROP(!(h->flags & ~COW_F_KNOWN));
	PROP(h->rdoblocks <= COW_MAX_RDOBLOCKS);
	PROP(h->mapsize == cow_mapsize(h->rdoblocks));
	PROP(h->doffset == cow_doffset(h->rdoblocks));
	PROP(h->cowused <= h->rdoblocks);
	PROP(!(h->ext_flags & ~COW_EXT_KNOWN));
	PROP(!h->rdosize || cow_rdoblocks(h->rdosize) == h->rdoblocks);
	check_geometry(h->rdoblocks);
	if (h->layout == COW_LAYOUT_ILP32)
		PROP(h->rdoblocks <= UINT32_MAX && h->fingerprint <= UINT32_MAX);

	/* encode(decode(x)) decodes to the same values */
	memset(blk2, 0xa5, sizeof(blk2));
	cow_hdr_encode(blk2, h);
	PROP(cow_hdr_decode(&h2, blk2) == COW_OK);
	PROP(same_hdr(h, &h2));
	/* the encoding is canonical: encoding again gives the same bytes */
	{
		static uint8_t blk3[COW_HDRSIZE] __attribute__((aligned(8)));

		cow_hdr_encode(blk3, &h2);
		PROP(!memcmp(blk2, blk3, sizeof(blk2)));
	}
	(void)blk;

	/* state: a merge first, then the PACKED/DIRTY flags decide */
	s = cow_hdr_check_state(h);
	PROP(s == ((h->ext_flags & COW_EXT_MERGING) ? COW_E_MERGING :
		   (h->ext_flags & COW_EXT_MERGED) ? COW_E_MERGED :
		   (h->flags & COW_F_PACKED) ? COW_E_PACKED :
		   (h->flags & COW_F_DIRTY) ? COW_E_DIRTY : COW_OK));
	/* a merge state always comes with DIRTY, for the original driver */
	PROP(!(h->ext_flags & COW_EXT_MERGE_ANY) || (h->flags & COW_F_DIRTY));
	/* so do the merged fingerprint and the rdofile's identity */
	PROP((h->ext_flags & COW_EXT_MERGE_ANY) || (!h->mergefp && !h->rdoid));

	/* the rdofile it was written for matches, others do not */
	rdosize = h->rdosize ? h->rdosize : h->rdoblocks << COW_MAPUNIT_SHIFT;
	fp = (uint32_t)h->fingerprint;
	PROP(cow_hdr_check_rdo(h, rdosize, fp) == COW_OK);
	PROP(cow_hdr_check_rdo(h, rdosize + COW_MAPUNIT, fp) ==
	     COW_E_RDOBLOCKS);
	PROP(cow_hdr_check_rdo(h, rdosize, fp ^ 1) == COW_E_FINGERPRINT);
	if (h->rdosize && (h->rdosize & (COW_MAPUNIT - 1)) != COW_MAPUNIT - 1)
		PROP(cow_hdr_check_rdo(h, rdosize + 1, fp) == COW_E_RDOSIZE);
	/* a fresh header for that rdofile agrees on the geometry */
	cow_hdr_init(&h2, rdosize, fp);
	PROP(h2.rdoblocks == h->rdoblocks && h2.mapsize == h->mapsize &&
	     h2.doffset == h->doffset);
	PROP(cow_fp_equal(h2.fingerprint, fp));
	PROP(cow_hdr_check_rdo(&h2, rdosize, fp) == COW_OK);
}

static void check_bitmap(const uint8_t *map, uint64_t bytes,
			 const struct cow_hdr *h, int r, uint64_t seed)
{
	uint64_t rdo = seed % (bytes * 8 + 16), first = 0, split;

	PROP(cow_bitmap_weight(map, bytes) == ref_weight(map, bytes));
	PROP(cow_bitmap_check_tail(map, 0, bytes, rdo) ==
	     ref_tail(map, 0, bytes, rdo));
	/* in two pieces, as the driver does page by page */
	split = bytes ? (seed >> 32) % bytes : 0;
	PROP(cow_bitmap_weight(map, split) + cow_bitmap_weight(map + split,
				bytes - split) == ref_weight(map, bytes));
	first = split * 8;
	PROP(cow_bitmap_check_tail(map + split, first, bytes - split, rdo) ==
	     ref_tail(map + split, first, bytes - split, rdo));
	if (r == COW_OK && bytes >= h->mapsize)
		PROP(cow_bitmap_check_tail(map, 0, h->mapsize, h->rdoblocks) ==
		     ref_tail(map, 0, h->mapsize, h->rdoblocks));
}

/* The tools' path: the input as a file, through cow_open and friends. */
static void check_library(const uint8_t *data, size_t size, int r,
			  const struct cow_hdr *h, uint64_t seed_unit)
{
	static int fd = -1;
	static char path[64];
	struct cowfile cf;
	struct cow_map_stat st;
	uint64_t u, units, present;
	int ok, m;

	if (fd < 0) {
		fd = memfd_create("fuzz-cowfile", MFD_CLOEXEC);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror("memfd write");
		abort();
	}
	nmsg = 0;
	ok = cow_open(&cf, path, false) == 0;
	/* opens exactly the files whose header decodes and that hold it */
	PROP(ok == (r == COW_OK && size >= COW_HDRSIZE + h->mapsize));
	if (!ok) {
		PROP(nmsg == 1);		/* refused with a message */
		PROP(strcmp(lastmsg, "unknown reason") != 0);
		return;
	}
	PROP(nmsg == 0);
	PROP(same_hdr(&cf.hdr, h));
	m = cow_map_check(&cf, &st);
	PROP(st.weight == ref_weight(data + COW_HDRSIZE, h->mapsize));
	/* a set bit whose unit is not (whole) in the file: truncated */
	present = size > h->doffset ? (size - h->doffset) / COW_MAPUNIT : 0;
	units = 0;
	for (u = present; u < h->rdoblocks && u < h->mapsize * 8; u++)
		units += cow_bit_test(data + COW_HDRSIZE, u);
	PROP(st.missing == units);
	PROP(m == (units ? COW_E_TRUNCATED :
		   ref_tail(data + COW_HDRSIZE, 0, h->mapsize, h->rdoblocks) ?
		   COW_E_BITMAP_TAIL : st.weight != h->cowused ? COW_E_BITMAP :
		   COW_OK));
	/* the block cache reads what the file holds */
	if (h->mapsize) {
		u = seed_unit % (h->mapsize * 8);
		PROP(cow_map_test(&cf, u) ==
		     cow_bit_test(data + COW_HDRSIZE, u));
	}
	cow_close(&cf);
	PROP(cf.fd == -1 && !cf.blk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t blk[COW_HDRSIZE] __attribute__((aligned(8)));
	struct cow_hdr h;
	uint64_t seed = 0;
	int r;

	memset(blk, 0, sizeof(blk));
	memcpy(blk, data, size < sizeof(blk) ? size : sizeof(blk));
	r = cow_hdr_decode(&h, blk);
	check_header(blk, r, &h);

	/* The geometry functions for the header's raw rdoblocks fields. */
	{
		uint64_t raw64;
		uint32_t raw32;

		memcpy(&raw64, blk + 32, sizeof(raw64));
		memcpy(&raw32, blk + 20, sizeof(raw32));
		check_geometry(le64toh(raw64) & (2 * COW_MAX_RDOBLOCKS - 1));
		check_geometry(le32toh(raw32));
		seed = le64toh(raw64) ^ ((uint64_t)le32toh(raw32) << 17);
	}

	if (size > COW_HDRSIZE)
		check_bitmap(data + COW_HDRSIZE, size - COW_HDRSIZE, &h, r,
			     seed);
	check_library(data, size, r, &h, seed);
	return 0;
}
