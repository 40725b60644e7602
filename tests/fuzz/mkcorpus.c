// SPDX-License-Identifier: GPL-2.0
/*
 * mkcorpus DIR: write the fuzzer's seed corpus (tests/fuzz/corpus/), heads
 * of cowfiles crafted byte by byte from the offsets of the format spec
 * (never with the encoder under test): valid ones in both layouts, with
 * and without the cowloop extension, dirty, packed, and one corruption
 * per refusal reason.  The output is committed; rerun after a format
 * change:  cc -o /tmp/mkcorpus tests/fuzz/mkcorpus.c && /tmp/mkcorpus tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static uint8_t buf[1024 + 16384];

static void put(size_t off, unsigned int n, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t mapsize_of(uint64_t u) { return ((u + 7) / 8 + 1023) / 1024 * 1024; }
static uint64_t doffset_of(uint64_t u) { return (1024 + mapsize_of(u) + 4095) / 4096 * 4096; }

/* A header as the original wrote it; w = 8 (x86_64) or 4 (i386). */
static void hdr(unsigned int w, uint64_t units, uint16_t flags, uint64_t used,
		uint64_t fp)
{
	memset(buf, 0, sizeof(buf));
	put(0, 4, 0x574f437f);
	put(4, 2, 1);
	put(6, 2, flags);
	put(8, w, 1024);
	put(8 + w, w, mapsize_of(units));
	put(8 + 2 * w, w, doffset_of(units));
	put(8 + 3 * w, w, units);
	put(8 + 4 * w, w, fp);
	put(8 + 5 * w, w, used);
}

static void ext(uint64_t flags, uint64_t rdosize)
{
	put(512, 4, 0x3158434c);
	put(516, 4, 128);
	put(520, 8, flags);
	put(528, 8, rdosize);
}

static void setbit(uint64_t unit)
{
	buf[1024 + unit / 8] |= 1U << (unit % 8);
}

static void out(const char *name, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkcorpus DIR\n");
		return 2;
	}
	dir = argv[1];

	/* valid */
	hdr(8, 1440, 0, 3, 0x12345678);
	setbit(0); setbit(7); setbit(1439);
	out("lp64-1440", 1024 + 1024);
	hdr(8, 1440, 0, 0, 0xf2345678 | 0xffffffff00000000ULL);
	out("lp64-fp-signext", 1024 + 1024);
	hdr(8, 1440, 0, 2, 0x11223344);
	ext(1, 1440 * 1024 + 17);
	setbit(5); setbit(6);
	out("lp64-ext", 1024 + 1024);
	hdr(8, 1440, 0, 0, 0x11223344);
	ext(0, 0);
	out("lp64-ext-noflags", 1024 + 1024);
	hdr(8, 1440, 1, 1, 0x11223344);
	ext(1, 1440 * 1024);
	setbit(9);
	out("lp64-dirty-ordered", 1024 + 1024);
	hdr(8, 1440, 1, 0, 0x11223344);
	setbit(9);
	out("lp64-dirty-original", 1024 + 1024);
	hdr(8, 1440, 2, 0, 0x11223344);
	out("lp64-packed", 1024 + 1024);
	hdr(8, 102400, 0, 4, 0xa1b2c3d4 | 0xffffffff00000000ULL);
	setbit(0); setbit(8191); setbit(8192); setbit(102399);
	out("lp64-102400", 1024 + 13312);
	hdr(8, 1ULL << 44, 0, 0, 1);
	out("lp64-max-rdoblocks", 1024);
	hdr(8, 1, 0, 1, 1);
	setbit(0);
	out("lp64-1unit", 1024 + 1024);
	hdr(8, 0, 0, 0, 0);
	out("lp64-0units", 1024);
	hdr(4, 1440, 0, 2, 0xf2345678);
	setbit(3); setbit(4);
	out("i386-1440", 1024 + 1024);
	hdr(4, 1440, 1, 0, 0x01020304);
	out("i386-dirty", 1024 + 1024);
	hdr(4, 1440, 2, 0, 0x01020304);
	out("i386-packed", 1024 + 1024);
	hdr(4, 1440, 0, 0, 0x01020304);
	ext(1, 1440 * 1024 + 1023);
	out("i386-ext", 1024 + 1024);
	hdr(4, 0xffffffffULL, 0, 0, 0x01020304);
	out("i386-max", 1024);
	/* a merge under way, done; the rdofile's identity without a merge */
	hdr(8, 1440, 1, 2, 0x01020304);
	setbit(3); setbit(4);
	ext(3, 1440 * 1024); put(536, 8, 0x9a302010); put(544, 8, 0x1234);
	out("lp64-merging", 1024 + 1024);
	hdr(8, 1440, 1, 2, 0x01020304);
	setbit(3); setbit(4);
	ext(5, 1440 * 1024); put(536, 8, 0x9a302010); put(544, 8, 0x1234);
	out("lp64-merged", 1024 + 1024);
	hdr(8, 1440, 0, 0, 1); ext(1, 1440 * 1024); put(544, 8, 0x1234);
	out("bad-ext-rdoid", 2048);

	/* corrupt: one refusal reason each */
	hdr(8, 1440, 0, 0, 1); put(0, 4, 0x7f434f57);
	out("bad-endian", 2048);
	hdr(8, 1440, 0, 0, 1); put(0, 1, 0x7e);
	out("bad-magic", 2048);
	hdr(8, 1440, 0, 0, 1); put(4, 2, 0);
	out("bad-version0", 2048);
	hdr(8, 1440, 0, 0, 1); put(4, 2, 2);
	out("bad-version2", 2048);
	hdr(8, 1440, 0, 0, 1); put(8, 8, 512);
	out("bad-mapunit", 2048);
	hdr(4, 1440, 0, 0, 1); put(12, 4, 0);
	out("bad-i386-mapsize0", 2048);
	hdr(8, 1440, 0, 0, 1); put(16, 8, 2048);
	out("bad-mapsize", 2048);
	hdr(8, 1440, 0, 0, 1); put(24, 8, 8192);
	out("bad-doffset", 2048);
	hdr(8, (1ULL << 44) + 1, 0, 0, 1);
	out("bad-toobig", 1024);
	hdr(8, 1440, 0, 0, 1); put(32, 8, UINT64_MAX);
	out("bad-rdoblocks-max", 2048);
	hdr(8, 1440, 0, 1441, 1);
	out("bad-cowused", 2048);
	hdr(8, 1440, 0x10, 0, 1);
	out("bad-flags", 2048);
	hdr(8, 1440, 0, 0, 1); ext(1, 1440 * 1024); put(512, 1, 0);
	out("bad-ext-magic", 2048);
	hdr(8, 1440, 0, 0, 1); ext(1, 1440 * 1024); put(516, 4, 64);
	out("bad-ext-size", 2048);
	hdr(8, 1440, 0, 0, 1); ext(1, 1440 * 1024); put(600, 8, 1);
	out("bad-ext-reserved", 2048);
	hdr(8, 1440, 0, 0, 1); ext(3, 1440 * 1024);
	out("bad-ext-flags", 2048);
	hdr(8, 1440, 0, 0, 1); ext(1, 1441 * 1024);
	out("bad-ext-rdosize", 2048);
	hdr(8, 1440, 0, 1, 1); setbit(1440);
	out("bad-bitmap-tail", 2048);
	hdr(8, 1440, 0, 5, 1); setbit(1);
	out("bad-bitmap-count", 2048);
	hdr(8, 102400, 0, 0, 1);
	out("bad-short-bitmap", 1024 + 4096);
	hdr(8, 1440, 0, 0, 1);
	out("bad-short-header", 40);
	return 0;
}
