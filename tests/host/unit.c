// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of src/common/cowfmt.c and src/lib/.  Headers are
 * written byte by byte from the offsets of the format spec, never with
 * the encoder under test.  Prints "PASS name" or "FAIL name" per test.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cowlib.h"

static int failures;
static const char *tmpdir;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "  %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	ok = false; } } while (0)

static void report(const char *name, bool ok)
{
	printf("%s %s\n", ok ? "PASS" : "FAIL", name);
	if (!ok)
		failures++;
}

/* little-endian store of @n bytes of @v at @off */
static void put(uint8_t *b, size_t off, unsigned int n, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		b[off + i] = (uint8_t)(v >> (8 * i));
}

/* A header for @rdoblocks as the original wrote it: spec offsets. */
static void craft(uint8_t *b, bool lp64, uint64_t rdoblocks, uint64_t mapsize,
		  uint64_t doffset, uint64_t fp, uint64_t cowused)
{
	unsigned int w = lp64 ? 8 : 4;

	memset(b, 0, COW_HDRSIZE);
	put(b, 0, 4, 0x574f437f);
	put(b, 4, 2, 1);
	put(b, 6, 2, 0);
	put(b, 8, w, 1024);
	put(b, 8 + w, w, mapsize);
	put(b, 8 + 2 * w, w, doffset);
	put(b, 8 + 3 * w, w, rdoblocks);
	put(b, 8 + 4 * w, w, fp);
	put(b, 8 + 5 * w, w, cowused);
}

static void test_geometry(void)
{
	static const struct { uint64_t units, mapsize, doffset; } t[] = {
		{ 1440, 1024, 4096 },
		{ 102400, 13312, 16384 },
		{ 256000, 32768, 36864 },
		{ 1, 1024, 4096 },
		{ 8192, 1024, 4096 },
		{ 8193, 2048, 4096 },
		{ 3 * 8192, 3072, 4096 },
		{ 3 * 8192 + 1, 4096, 8192 },
	};
	bool ok = true;
	unsigned int i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK(cow_mapsize(t[i].units) == t[i].mapsize);
		CHECK(cow_doffset(t[i].units) == t[i].doffset);
	}
	CHECK(cow_rdoblocks(1440 * 1024 + 1023) == 1440);
	CHECK(cow_rdoblocks(1023) == 0);
	report("geometry-table", ok);
}

static void unit_sum(uint8_t *u, uint8_t sum)
{
	memset(u, 0, COW_MAPUNIT);
	u[17] = sum;
}

static void test_fingerprint(void)
{
	static const uint8_t sums[] = { 0x10, 0x00, 0x20, 0x30, 0x9a, 0x55 };
	uint8_t u[COW_MAPUNIT] __attribute__((aligned(8)));
	struct cow_fp f;
	bool ok = true, done = false;
	unsigned int i;

	cow_fp_init(&f);
	for (i = 0; i < sizeof(sums) && !done; i++) {
		unit_sum(u, sums[i]);
		done = cow_fp_add(&f, u);
	}
	CHECK(done && i == 5);
	CHECK(f.value == 0x9a302010U);
	CHECK(cow_fp_stored(f.value, COW_LAYOUT_LP64) == 0xffffffff9a302010ULL);
	CHECK(cow_fp_stored(f.value, COW_LAYOUT_ILP32) == 0x9a302010ULL);
	CHECK(cow_fp_stored(0x7a302010U, COW_LAYOUT_LP64) == 0x7a302010ULL);
	CHECK(cow_fp_equal(0xffffffff9a302010ULL, 0x9a302010U));
	CHECK(cow_fp_equal(0x9a302010ULL, 0x9a302010U));
	CHECK(!cow_fp_equal(0x9a302011ULL, 0x9a302010U));
	/* a unit of 256 bytes 0x01 sums to 0 mod 256: skipped */
	cow_fp_init(&f);
	memset(u, 0, sizeof(u));
	memset(u, 1, 256);
	cow_fp_add(&f, u);
	CHECK(f.count == 0 && f.value == 0);
	report("fingerprint-quirk", ok);
}

static void test_decode_layouts(void)
{
	uint8_t b[COW_HDRSIZE] __attribute__((aligned(8)));
	uint8_t e[COW_HDRSIZE] __attribute__((aligned(8)));
	struct cow_hdr h;
	bool ok = true;

	craft(b, true, 256000, 32768, 36864, 0xffffffff9a302010ULL, 762);
	CHECK(cow_hdr_decode(&h, b) == COW_OK);
	CHECK(h.layout == COW_LAYOUT_LP64 && h.rdoblocks == 256000 &&
	      h.mapsize == 32768 && h.doffset == 36864 && h.cowused == 762 &&
	      h.fingerprint == 0xffffffff9a302010ULL && !h.ext_flags);
	cow_hdr_encode(e, &h);
	CHECK(!memcmp(b, e, COW_HDRSIZE));

	craft(b, false, 256000, 32768, 36864, 0x9a302010ULL, 762);
	CHECK(cow_hdr_decode(&h, b) == COW_OK);
	CHECK(h.layout == COW_LAYOUT_ILP32 && h.rdoblocks == 256000 &&
	      h.mapsize == 32768 && h.doffset == 36864 && h.cowused == 762 &&
	      h.fingerprint == 0x9a302010ULL);
	cow_hdr_encode(e, &h);		/* keeps the i386 layout */
	CHECK(!memcmp(b, e, COW_HDRSIZE));

	/* extension: ORDERED + exact size */
	craft(b, true, 1440, 1024, 4096, 0, 0);
	put(b, 512, 4, 0x3158434c);
	put(b, 516, 4, 128);
	put(b, 520, 8, 1);
	put(b, 528, 8, 1440 * 1024 + 100);
	CHECK(cow_hdr_decode(&h, b) == COW_OK);
	CHECK(h.ext_flags == COW_EXT_ORDERED && h.rdosize == 1440 * 1024 + 100);
	cow_hdr_encode(e, &h);
	CHECK(!memcmp(b, e, COW_HDRSIZE));

	/* a fresh header is LP64 with quirk, ORDERED and exact size */
	cow_hdr_init(&h, 1440 * 1024 + 100, 0x9a302010U);
	cow_hdr_encode(e, &h);
	craft(b, true, 1440, 1024, 4096, 0xffffffff9a302010ULL, 0);
	put(b, 512, 4, 0x3158434c);
	put(b, 516, 4, 128);
	put(b, 520, 8, 1);
	put(b, 528, 8, 1440 * 1024 + 100);
	CHECK(!memcmp(b, e, COW_HDRSIZE));
	report("header-layouts", ok);
}

/* Each rule on its own: one corruption of a valid header per case. */
static void test_decode_reasons(void)
{
	static const struct {
		const char *what;
		size_t off;
		unsigned int n;
		uint64_t v;
		int reason;
	} t[] = {
		{ "magic", 0, 4, 0x12345678, COW_E_MAGIC },
		{ "endian", 0, 4, 0x7f434f57, COW_E_ENDIAN },
		{ "version-2", 4, 2, 2, COW_E_VERSION },
		{ "version-0", 4, 2, 0, COW_E_VERSION },
		{ "mapunit", 8, 8, 512, COW_E_MAPUNIT },
		{ "mapsize", 16, 8, 2048, COW_E_GEOMETRY },
		{ "doffset", 24, 8, 8192, COW_E_GEOMETRY },
		{ "toobig", 32, 8, (1ULL << 44) + 1, COW_E_TOOBIG },
		{ "cowused", 48, 8, 1441, COW_E_COWUSED },
		{ "flags", 6, 2, 4, COW_E_FLAGS },
		{ "ext-magic", 512, 4, 0x11111111, COW_E_EXT },
		{ "ext-reserved", 600, 1, 1, COW_E_EXT },
		{ "ext-reserved-first", 552, 1, 1, COW_E_EXT },
		{ "ext-reserved-last", 639, 1, 1, COW_E_EXT },
		{ "ext-rdoid-no-merge", 544, 8, 1, COW_E_EXT },
	};
	uint8_t b[COW_HDRSIZE] __attribute__((aligned(8)));
	struct cow_hdr h;
	char name[64];
	unsigned int i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool ok = true;

		craft(b, true, 1440, 1024, 4096, 0, 0);
		if (t[i].off >= 512 && t[i].off != 512) {
			put(b, 512, 4, 0x3158434c);
			put(b, 516, 4, 128);
		}
		put(b, t[i].off, t[i].n, t[i].v);
		CHECK(cow_hdr_decode(&h, b) == t[i].reason);
		snprintf(name, sizeof(name), "decode-%s", t[i].what);
		report(name, ok);
	}
	{
		bool ok = true;

		craft(b, true, 1440, 1024, 4096, 0, 0);
		put(b, 512, 4, 0x3158434c);
		put(b, 516, 4, 128);
		put(b, 520, 8, 2);			/* unknown ext flag */
		CHECK(cow_hdr_decode(&h, b) == COW_E_EXT);
		put(b, 520, 8, 1);
		put(b, 528, 8, 1441 * 1024);		/* other unit count */
		CHECK(cow_hdr_decode(&h, b) == COW_E_EXT);
		craft(b, false, 1440, 1024, 4096, 0, 0);
		put(b, 12, 4, 0);	/* reads as LP64, then fails geometry */
		CHECK(cow_hdr_decode(&h, b) == COW_E_GEOMETRY);
		put(b, 8, 4, 4096);	/* neither layout has mapunit 1024 */
		CHECK(cow_hdr_decode(&h, b) == COW_E_MAPUNIT);
		report("decode-ext-and-i386", ok);
	}
	{
		uint8_t e[COW_HDRSIZE] __attribute__((aligned(8)));
		bool ok = true;

		/* a merge under way: DIRTY, MERGING, fingerprint once merged */
		craft(b, true, 1440, 1024, 4096, 0x0a0b0c0d, 0);
		put(b, 6, 2, COW_F_DIRTY);
		put(b, 512, 4, 0x3158434c);
		put(b, 516, 4, 128);
		put(b, 520, 8, COW_EXT_ORDERED | COW_EXT_MERGING);
		put(b, 536, 8, 0x11223344);
		put(b, 544, 8, 0xfedcba9876543210ULL);	/* rdoid */
		CHECK(cow_hdr_decode(&h, b) == COW_OK);
		CHECK(h.mergefp == 0x11223344 &&
		      h.rdoid == 0xfedcba9876543210ULL &&
		      cow_hdr_check_state(&h) == COW_E_MERGING);
		cow_hdr_encode(e, &h);
		CHECK(!memcmp(b, e, COW_HDRSIZE));
		put(b, 520, 8, COW_EXT_MERGED);
		CHECK(cow_hdr_decode(&h, b) == COW_OK &&
		      cow_hdr_check_state(&h) == COW_E_MERGED);
		put(b, 520, 8, COW_EXT_MERGED | COW_EXT_MERGING);
		CHECK(cow_hdr_decode(&h, b) == COW_E_EXT);
		put(b, 520, 8, COW_EXT_MERGING);
		put(b, 6, 2, 0);		/* without DIRTY */
		CHECK(cow_hdr_decode(&h, b) == COW_E_EXT);
		put(b, 520, 8, COW_EXT_ORDERED);	/* mergefp, no merge */
		CHECK(cow_hdr_decode(&h, b) == COW_E_EXT);
		put(b, 536, 8, 0);		/* rdoid, no merge */
		CHECK(cow_hdr_decode(&h, b) == COW_E_EXT);
		put(b, 544, 8, 0);
		CHECK(cow_hdr_decode(&h, b) == COW_OK);
		CHECK(!strcmp(cow_strerror(COW_E_TRUNCATED),
			      "cowfile truncated: it ends before blocks its bitmap lists"));
		report("decode-merge-states", ok);
	}
	{
		bool ok = true;

		craft(b, true, 1440, 1024, 4096, 0x0a0b0c0d, 0);
		put(b, 6, 2, COW_F_DIRTY | COW_F_PACKED);
		CHECK(cow_hdr_decode(&h, b) == COW_OK);
		CHECK(cow_hdr_check_state(&h) == COW_E_PACKED);
		h.flags = COW_F_DIRTY;
		CHECK(cow_hdr_check_state(&h) == COW_E_DIRTY);
		h.flags = 0;
		CHECK(cow_hdr_check_state(&h) == COW_OK);
		CHECK(cow_hdr_check_rdo(&h, 1441 * 1024, 0x0a0b0c0d) ==
		      COW_E_RDOBLOCKS);
		CHECK(cow_hdr_check_rdo(&h, 1440 * 1024 + 5, 0x0a0b0c0d) == 0);
		CHECK(cow_hdr_check_rdo(&h, 1440 * 1024, 0x0a0b0c0e) ==
		      COW_E_FINGERPRINT);
		h.rdosize = 1440 * 1024 + 5;
		CHECK(cow_hdr_check_rdo(&h, 1440 * 1024, 0x0a0b0c0d) ==
		      COW_E_RDOSIZE);
		CHECK(strcmp(cow_strerror(COW_E_MAGIC),
			     "not a cowfile (bad magic number)") == 0);
		CHECK(strcmp(cow_strerror(-1), "unknown reason") == 0);
		for (int r = COW_OK; r < COW_E_MAX; r++)
			CHECK(strcmp(cow_strerror(r), "unknown reason") != 0);
		CHECK(strcmp(cow_strerror(COW_E_MAX), "unknown reason") == 0);
		report("state-and-rdo-checks", ok);
	}
}

static void test_bitmap(void)
{
	uint8_t map[1024] = { 0 };
	bool ok = true;

	map[0] = 0x89;			/* units 0, 3, 7 */
	map[12] = 0x08;			/* unit 99 */
	CHECK(cow_bitmap_weight(map, sizeof(map)) == 4);
	CHECK(cow_bit_test(map, 99) && !cow_bit_test(map, 98));
	CHECK(cow_bitmap_check_tail(map, 0, sizeof(map), 100) == COW_OK);
	map[12] = 0x10;			/* unit 100: beyond 100 units */
	CHECK(cow_bitmap_check_tail(map, 0, sizeof(map), 100) ==
	      COW_E_BITMAP_TAIL);
	map[12] = 0;
	map[1023] = 0x80;		/* last bit of the block */
	CHECK(cow_bitmap_check_tail(map, 0, sizeof(map), 100) ==
	      COW_E_BITMAP_TAIL);
	CHECK(cow_bitmap_check_tail(map, 0, sizeof(map), 8192) == COW_OK);
	report("bitmap-helpers", ok);
}

static int count_unit(void *ctx, uint64_t unit, const uint8_t *data)
{
	uint64_t *v = ctx;

	if (!cow_unit_zero(data)) {
		v[0]++;
		v[1] += unit;
	}
	return 0;
}

static void test_io(void)
{
	char path[4096];
	uint8_t buf[3000];
	uint64_t v[2] = { 0, 0 }, size;
	bool ok = true, blk;
	int fd;

	snprintf(path, sizeof(path), "%s/io.bin", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	memset(buf, 0xab, sizeof(buf));
	CHECK(cow_pwrite_full(fd, buf, 1, 4096 + 5 * 1024 + 3) == 0);
	CHECK(cow_pwrite_full(fd, buf, 1, 4096 + 300000ULL * 1024) == 0);
	CHECK(ftruncate(fd, 4096 + 400000ULL * 1024) == 0);
	CHECK(cow_scan_units(fd, 4096, 400000, count_unit, v) == 0);
	CHECK(v[0] == 2 && v[1] == 300005);
	CHECK(cow_fd_size(fd, &size, &blk) == 0 && !blk &&
	      size == 4096 + 400000ULL * 1024);
	CHECK(cow_pread_full(fd, buf, sizeof(buf), size - 100) == 100);
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	CHECK(cow_fd_size(fd, &size, &blk) == COW_E_RDOTYPE);
	close(fd);
	unlink(path);
	report("io-helpers", ok);
}

/* The runs cow_map_iter_run() gives of cowfile @path, @max long at most. */
static size_t map_runs(const char *path, uint64_t max, uint64_t (*got)[2],
		       size_t len)
{
	struct cow_map_iter it;
	struct cowfile cf;
	uint64_t start, n;
	size_t k = 0;
	int r = -1;

	if (cow_open(&cf, path, false) < 0)
		return 0;
	if (!cow_map_iter_init(&it, &cf)) {
		while (k < len &&
		       (r = cow_map_iter_run(&it, &start, &n, max)) > 0) {
			got[k][0] = start;
			got[k++][1] = n;
		}
		cow_map_iter_free(&it);
	}
	cow_close(&cf);
	return r ? 0 : k;
}

/*
 * Runs of set bits: split at their largest length, across the bitmap's
 * 1 MiB reads (its bytes 0 to 2^20 - 1, then the rest), the last alone.
 */
static void test_map_runs(void)
{
	static const uint64_t whole[][2] = {
		{ 3, 1 }, { 5, 6 }, { 8388600, 11 }, { 9999999, 1 },
	};
	static const uint64_t by4[][2] = {
		{ 3, 1 }, { 5, 4 }, { 9, 2 }, { 8388600, 4 }, { 8388604, 4 },
		{ 8388608, 3 }, { 9999999, 1 },
	};
	static const struct { uint64_t off; uint8_t v; } bytes[] = {
		{ 0, 0xe8 }, { 1, 0x07 },	/* units 3, 5..10 */
		{ 8388600 / 8, 0xff }, { 8388608 / 8, 0x07 },
		{ 9999999 / 8, 0x80 },
	};
	uint64_t units = 10000000, got[16][2];
	uint8_t hdr[COW_HDRSIZE], *map;
	size_t mapsize = cow_mapsize(units), i, k;
	char path[4096];
	bool ok = true;
	int fd;

	snprintf(path, sizeof(path), "%s/runs.cow", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	map = calloc(1, mapsize);
	CHECK(fd >= 0 && map);
	if (fd < 0 || !map)
		goto out;
	for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++)
		map[bytes[i].off] = bytes[i].v;
	craft(hdr, true, units, mapsize, cow_doffset(units), 0, 22);
	CHECK(cow_pwrite_full(fd, hdr, sizeof(hdr), 0) == 0);
	/* written whole: one extent, read in two */
	CHECK(cow_pwrite_full(fd, map, mapsize, COW_HDRSIZE) == 0);
	close(fd);
	k = map_runs(path, UINT64_MAX, got, 16);
	CHECK(k == sizeof(whole) / sizeof(whole[0]));
	for (i = 0; i < k && i < sizeof(whole) / sizeof(whole[0]); i++)
		CHECK(got[i][0] == whole[i][0] && got[i][1] == whole[i][1]);
	k = map_runs(path, 4, got, 16);
	CHECK(k == sizeof(by4) / sizeof(by4[0]));
	for (i = 0; i < k && i < sizeof(by4) / sizeof(by4[0]); i++)
		CHECK(got[i][0] == by4[i][0] && got[i][1] == by4[i][1]);
out:
	free(map);
	unlink(path);
	report("map-runs", ok);
}

/* Bad cowtab lines seen by cowtab_read: "3:reason;" each, in @ctx. */
static void cowtab_bad(void *ctx, const char *path, unsigned int line,
		       const char *why)
{
	char *seen = ctx;

	(void)path;
	snprintf(seen + strlen(seen), 512 - strlen(seen), "%u:%s;", line, why);
}

/* cowtab(5) lines: fields, escapes, device forms, options, bad lines. */
static void test_cowtab(void)
{
	static const struct {
		const char *line;
		int ret;
		const char *rdo, *cow;
		unsigned int devno;
		bool repair, noauto;
		const char *why;
	} t[] = {
		{ "", 0, NULL, NULL, 0, false, false, NULL },
		{ "   \t\n", 0, NULL, NULL, 0, false, false, NULL },
		{ "  # /a /b 0", 0, NULL, NULL, 0, false, false, NULL },
		{ "/dev/sdb2 /var/c.cow 0\n", 1, "/dev/sdb2", "/var/c.cow", 0,
		  false, false, NULL },
		{ "\t/r  /c\t/dev/cow/17   repair=yes,noauto", 1, "/r", "/c",
		  17, true, true, NULL },
		{ "/r /c 3 defaults", 1, "/r", "/c", 3, false, false, NULL },
		{ "/r /c 3 -", 1, "/r", "/c", 3, false, false, NULL },
		{ "/r /c 3 repair,repair=no", 1, "/r", "/c", 3, false, false,
		  NULL },
		{ "/my\\040images/a.img /c\\134d 1023", 1, "/my images/a.img",
		  "/c\\d", 1023, false, false, NULL },
		{ "/r /c", -1, NULL, NULL, 0, false, false,
		  "too few fields: expected rdofile cowfile cowdevice [options]" },
		{ "/r /c 1 repair=yes extra", -1, NULL, NULL, 0, false, false,
		  "too many fields: expected rdofile cowfile cowdevice [options]" },
		{ "r.img /c 1", -1, NULL, NULL, 0, false, false,
		  "rdofile r.img is not an absolute path" },
		{ "/r c.cow 1", -1, NULL, NULL, 0, false, false,
		  "cowfile c.cow is not an absolute path" },
		{ "/r /r 1", -1, NULL, NULL, 0, false, false,
		  "rdofile and cowfile are the same file /r" },
		{ "/dev/cow/3 /c 1", -1, NULL, NULL, 0, false, false,
		  "rdofile /dev/cow/3 is a cowdevice (stacking is not supported)" },
		{ "/r /c 1024", -1, NULL, NULL, 0, false, false,
		  "invalid cowdevice '1024' (expected /dev/cow/N or N, N below 1024)" },
		{ "/r /c /dev/sda", -1, NULL, NULL, 0, false, false,
		  "invalid cowdevice '/dev/sda' (expected /dev/cow/N or N, N below 1024)" },
		{ "/r /c 1x", -1, NULL, NULL, 0, false, false,
		  "invalid cowdevice '1x' (expected /dev/cow/N or N, N below 1024)" },
		{ "/r /c 1 repair=maybe", -1, NULL, NULL, 0, false, false,
		  "unknown option 'repair=maybe' (known: repair=yes, repair=no, noauto, ro, partscan, copy-on-read, fill)" },
		{ "/r /c 1 ro,partscan", 1, "/r", "/c", 1, false, false, NULL },
		{ "/r /c 1 ro,repair=yes", -1, NULL, NULL, 0, false, false,
		  "options ro and repair=yes exclude each other (a read-only cowdevice writes nothing)" },
		{ "/r /c 1 copy-on-read,ro", -1, NULL, NULL, 0, false, false,
		  "option ro excludes copy-on-read and fill (a read-only cowdevice writes nothing)" },
		{ "/r /c 1 fill,ro", -1, NULL, NULL, 0, false, false,
		  "option ro excludes copy-on-read and fill (a read-only cowdevice writes nothing)" },
		{ "/a\\x /c 1", -1, NULL, NULL, 0, false, false,
		  "a backslash must start an octal escape such as \\040 (a blank)" },
		{ "/a\\000 /c 1", -1, NULL, NULL, 0, false, false,
		  "\\000 is not allowed in a path" },
	};
	struct cowtab_entry *e = malloc(sizeof(*e));
	char why[256], path[512], seen[512] = "", *big;
	struct cowtab tab;
	bool ok = true;
	size_t i;
	FILE *f;

	if (e) {
		CHECK(cowtab_parse_line("/r /c 1 ro,partscan", e, why,
					sizeof(why)) == 1);
		CHECK(e->readonly && e->partscan && !e->repair && !e->noauto);
		CHECK(cowtab_parse_line("/r /c 1 copy-on-read,fill", e, why,
					sizeof(why)) == 1);
		CHECK(e->copyread && e->fill && !e->readonly);
		CHECK(cowtab_parse_line("/r /c 1", e, why, sizeof(why)) == 1);
		CHECK(!e->readonly && !e->partscan && !e->copyread && !e->fill);
	}

	for (i = 0; e && i < sizeof(t) / sizeof(t[0]); i++) {
		int r;

		why[0] = '\0';
		r = cowtab_parse_line(t[i].line, e, why, sizeof(why));
		if (r != t[i].ret) {
			fprintf(stderr, "  line '%s': %d, want %d (%s)\n",
				t[i].line, r, t[i].ret, why);
			ok = false;
			continue;
		}
		if (r > 0) {
			CHECK(!strcmp(e->rdofile, t[i].rdo));
			CHECK(!strcmp(e->cowfile, t[i].cow));
			CHECK(e->devno == t[i].devno);
			CHECK(e->repair == t[i].repair);
			CHECK(e->noauto == t[i].noauto);
		}
		if (r < 0 && strcmp(why, t[i].why)) {
			fprintf(stderr, "  line '%s': '%s'\n  want '%s'\n",
				t[i].line, why, t[i].why);
			ok = false;
		}
	}
	/* a path longer than COW_PATH_MAX is refused, not cut */
	big = malloc(COW_PATH_MAX + 16);
	CHECK(big && e);
	if (big && e) {
		big[0] = '/';
		memset(big + 1, 'a', COW_PATH_MAX);
		strcpy(big + 1 + COW_PATH_MAX, " /c 1");
		CHECK(cowtab_parse_line(big, e, why, sizeof(why)) == -1);
		CHECK(!strcmp(why, "field too long"));
	}
	free(big);
	free(e);

	/* a file: bad and duplicate lines skipped, the others kept */
	snprintf(path, sizeof(path), "%s/unit-cowtab", tmpdir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("# test\n/r /a.cow 0\nbad line\n/r /b.cow 0\n/r /a.cow 1\n"
		      "\n/r2 /c.cow /dev/cow/2 noauto\n", f);
		fclose(f);
		CHECK(cowtab_read(&tab, path, cowtab_bad, seen) == 3);
		CHECK(!strcmp(seen, "3:too few fields: expected rdofile cowfile "
			      "cowdevice [options];4:/dev/cow/0 is already on "
			      "line 2;5:cowfile /a.cow is already on line 2;"));
		CHECK(tab.n == 2);
		if (tab.n == 2) {
			CHECK(tab.e[0].line == 2 && tab.e[0].devno == 0);
			CHECK(tab.e[1].line == 7 && tab.e[1].devno == 2 &&
			      tab.e[1].noauto);
		}
		cowtab_free(&tab);
		unlink(path);
	}
	CHECK(cowtab_read(&tab, path, NULL, NULL) == 0 && tab.n == 0);
	report("cowtab-parse", ok);
}

/* The ioctl structure's layout, as doc/ioctl.md gives it. */
static void test_ioctl_abi(void)
{
	bool ok = true;

	CHECK(sizeof(struct cow_ioc_dev) == 8256);
	CHECK(offsetof(struct cow_ioc_dev, devno) == 0);
	CHECK(offsetof(struct cow_ioc_dev, flags) == 4);
	CHECK(offsetof(struct cow_ioc_dev, reason) == 8);
	CHECK(offsetof(struct cow_ioc_dev, reserved0) == 12);
	CHECK(offsetof(struct cow_ioc_dev, detail) == 16);
	CHECK(offsetof(struct cow_ioc_dev, reserved) == 24);
	CHECK(offsetof(struct cow_ioc_dev, rdofile) == 64);
	CHECK(offsetof(struct cow_ioc_dev, cowfile) == 4160);
	CHECK(COW_IOC_ACTIVATE == 0xe040c001UL);
	CHECK(COW_IOC_CHECKPOINT == 0xe040c004UL);
	CHECK(COW_E_FSLIMIT == 37);
	CHECK(COW_E_CKPTSELF == 38);
	report("ioctl-abi", ok);
}

/* Messages that add to a reason: one pair of parentheses; the limit. */
static void test_messages(void)
{
	struct cow_ioc_dev d = { .reason = COW_E_DEVRANGE };
	char buf[256], dir[4096], cmd[4200];
	bool ok = true;
	FILE *f;

	cow_reason_with(buf, sizeof(buf), "written (x)", "y");
	CHECK(!strcmp(buf, "written (x; y)"));
	cow_reason_with(buf, sizeof(buf), "written", "y");
	CHECK(!strcmp(buf, "written (y)"));
	/* the driver's "beyond maxcows" says what maxcows is */
	snprintf(dir, sizeof(dir), "%s/sys-maxcows/module/cowloop/parameters",
		 tmpdir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	CHECK(!system(cmd));
	strcat(dir, "/maxcows");
	f = fopen(dir, "w");
	CHECK(f && fputs("16\n", f) >= 0 && !fclose(f));
	snprintf(dir, sizeof(dir), "%s/sys-maxcows", tmpdir);
	setenv("COWLOOP_SYSFS", dir, 1);
	CHECK(!strcmp(cow_ctl_strerror(&d, 0), "no such cowdevice (beyond "
		      "maxcows; maxcows is 16: /dev/cow/0 to /dev/cow/15)"));
	snprintf(dir, sizeof(dir), "%s/sys-none", tmpdir);
	setenv("COWLOOP_SYSFS", dir, 1);
	CHECK(!strcmp(cow_ctl_strerror(&d, 0), "no such cowdevice (beyond "
		      "maxcows; maxcows is 16 by default, at most 1024)"));
	unsetenv("COWLOOP_SYSFS");
	d.reason = COW_E_DIRTY;
	CHECK(!strcmp(cow_ctl_strerror(&d, 0), cow_strerror(COW_E_DIRTY)));
	/* the file system's limit, and what the cowfile needs */
	d.reason = COW_E_FSLIMIT;
	d.detail = 0xffffffffULL;
	snprintf(d.rdofile, sizeof(d.rdofile), "%s/dvd6g.iso", tmpdir);
	f = fopen(d.rdofile, "w");
	CHECK(f && !ftruncate(fileno(f), 6LL << 30) && !fclose(f));
	CHECK(!strcmp(cow_ctl_strerror(&d, 0), "the cowfile's file system "
		      "cannot hold a cowfile this large (it holds files of "
		      "4.0 GiB at most; this rdofile's cowfile grows to "
		      "6.0 GiB)"));
	unlink(d.rdofile);
	report("messages-parentheses-maxcows", ok);
}

int main(int argc, char **argv)
{
	tmpdir = argc > 1 ? argv[1] : "/tmp";
	test_geometry();
	test_fingerprint();
	test_decode_layouts();
	test_decode_reasons();
	test_bitmap();
	test_io();
	test_map_runs();
	test_cowtab();
	test_ioctl_abi();
	test_messages();
	return failures ? 1 : 0;
}
