/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowloop: the userland library every tool links (build/obj/libcow.a).
 *
 *   cli.c      program name, error messages, --help/--version, usage errors
 *   io.c       whole-buffer pread/pwrite, file sizes, data extents (holes)
 *   cowfile.c  open a cowfile (header + bitmap), rewrite it; open an
 *              rdofile and compute its fingerprint
 *   ctl.c      the driver's control device /dev/cow/ctl, the active
 *              cowdevices in sysfs
 *   inuse.c    locks between the tools; files of active cowdevices
 *   newfile.c  a new file written under a temporary name, then renamed
 *   image.c    the image a cowdevice shows, written to a file
 *   cowtab.c   /etc/cowtab, the cowdevices activated at boot
 *
 * Functions that can fail print "<tool>: <file>: <reason>" themselves and
 * return -1, so that a tool only decides whether to go on.
 */
#ifndef _COWLIB_H
#define _COWLIB_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <getopt.h>
#include "cowfmt.h"

/* ---- cli.c ------------------------------------------------------- */

/* Exit codes shared by every tool. */
#define COW_EXIT_OK	0
#define COW_EXIT_FAIL	1
#define COW_EXIT_USAGE	2

/* getopt_long values of the options every tool has. */
#define COW_OPT_HELP	0x100
#define COW_OPT_VERSION	0x101
#define COW_SHORTOPTS_STD	"hV"
#define COW_LONGOPTS_STD \
	{ "help", no_argument, NULL, COW_OPT_HELP }, \
	{ "version", no_argument, NULL, COW_OPT_VERSION }

struct cow_tool {
	const char *name;	/* "cowlist" */
	const char *synopsis;	/* "[-v] cowfile", one line per form */
	const char *summary;	/* one sentence */
	const char *options;	/* help lines for the tool's own options */
	int usage_status;	/* exit status of a usage error, 0: 2 */
	int fail_status;	/* of a failure (output lost...), 0: 1 */
};

extern const char *cow_progname;

void cow_tool_init(const struct cow_tool *t);
void cow_help(void);
void cow_version(void);
void cow_std_option(int c);
void cow_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void cow_err(const char *file, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* When set, cow_err hands it "<file>: <reason>" instead of printing it. */
extern void (*cow_err_hook)(const char *msg);
void cow_err_errno(const char *file, const char *what);
void cow_reason_with(char *buf, size_t len, const char *text,
		     const char *extra);
void cow_err_reason(const char *file, int reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool cow_ask(const char *question);
const char *cow_plural(uint64_t n, const char *one, const char *many);
void cow_human(uint64_t bytes, char *buf, size_t len);
size_t cow_escape(const char *s, char *out, size_t len);
void cow_json_str(const char *s);
void cow_json_name(const char *key, const char *s);
void cow_json_begin(void);
void cow_json_key(const char *key);
void cow_json_file(const char *key, const char *path);
void cow_json_text(const char *key, const char *s);
void cow_json_u64(const char *key, uint64_t v);
void cow_json_u64_or_null(const char *key, bool known, uint64_t v);
void cow_json_null(const char *key);
void cow_json_bool(const char *key, bool v);
void cow_json_end(void);

extern volatile sig_atomic_t cow_interrupted;
void cow_catch_interrupts(void);

/* Progress of long work (cowmerge, full cowrepair) on stderr. */
struct cow_progress {
	bool on, tty;
	const char *what;	/* "merging", "scanning" */
	uint64_t total, done;	/* blocks */
	double start, last;	/* seconds, monotonic */
};

void cow_progress_init(struct cow_progress *p, int mode, const char *what,
		       uint64_t total);
void cow_progress_set(struct cow_progress *p, uint64_t done);
void cow_progress_end(struct cow_progress *p);

/* ---- io.c -------------------------------------------------------- */

ssize_t cow_pread_full(int fd, void *buf, size_t len, uint64_t off);
int cow_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
int cow_fd_size(int fd, uint64_t *size, bool *blockdev);
int cow_next_data(int fd, uint64_t *start, uint64_t *end, uint64_t limit);
void *cow_alloc_aligned(size_t len);
#define COW_SCAN_CHUNK	(1024 * 1024)	/* bytes per read while scanning */
int cow_scan_units(int fd, uint64_t base, uint64_t nunits,
		   int (*fn)(void *ctx, uint64_t unit, const uint8_t *data),
		   void *ctx);

/* ---- cowfile.c --------------------------------------------------- */

struct cowfile {
	const char *path;
	char label[32 + COW_PATH_MAX];	/* "cowfile <path>" for messages */
	int fd;
	bool writable;
	uint64_t fsize;		/* logical size (st_size) */
	struct cow_hdr hdr;
	struct cow_mapblk **blk; /* bitmap blocks read or changed, by idx */
	size_t nblk, cap;
};

/* A 1 KiB bitmap block in memory (cow_map_test/set/clear). */
struct cow_mapblk {
	uint64_t idx;		/* block number within the bitmap */
	bool dirty;
	uint8_t data[COW_MAPUNIT];
};

/* The set bits of a bitmap, read extent by extent (holes skipped). */
struct cow_map_iter {
	struct cowfile *cf;
	uint64_t base;		/* the map's offset in the file */
	uint8_t *buf;		/* COW_SCAN_CHUNK bytes of bitmap */
	uint64_t first;		/* unit of buf's first bit */
	uint64_t units;		/* bits in buf */
	uint64_t next;		/* next unit to look at */
	uint64_t again;		/* unit handed back by _run, + 1; 0: none */
	struct cow_map_iter *bitmap; /* modified: the bitmap, bits in both */
};

struct cow_map_stat {
	uint64_t weight;	/* bits set */
	uint64_t tail;		/* of which beyond the last unit */
	uint64_t missing;	/* of which beyond the end of the file */
	uint64_t first_missing;	/* first of those */
};

struct rdofile {
	const char *path;
	char label[32 + COW_PATH_MAX];	/* "rdofile <path>" */
	int fd;
	bool blockdev;
	uint64_t size;		/* exact bytes */
	uint64_t rdoblocks;	/* whole 1 KiB units */
};

int cow_open_file(const char *label, const char *path, int flags, int type,
		  struct stat *st);
int cow_open(struct cowfile *cf, const char *path, bool writable);
int cow_map_iter_init(struct cow_map_iter *it, struct cowfile *cf);
int cow_map_iter_modified(struct cow_map_iter *it, struct cowfile *cf);
int cow_modified_count(struct cowfile *cf, uint64_t *units);
int cow_map_iter_next(struct cow_map_iter *it, uint64_t *unit);
int cow_map_iter_run(struct cow_map_iter *it, uint64_t *start, uint64_t *n,
		     uint64_t max);
void cow_map_iter_free(struct cow_map_iter *it);
uint64_t cow_units_present(const struct cowfile *cf);
int cow_map_stat(struct cowfile *cf, struct cow_map_stat *st);
int cow_map_check(struct cowfile *cf, struct cow_map_stat *st);
void cow_map_refuse(const struct cowfile *cf, int reason,
		    const struct cow_map_stat *st);
int cow_map_test(struct cowfile *cf, uint64_t unit);
int cow_map_set(struct cowfile *cf, uint64_t unit);
int cow_map_clear(struct cowfile *cf, uint64_t unit);
int cow_map_write(struct cowfile *cf);
int cow_modmap_rebuild(struct cowfile *cf);
int cow_hdr_write(struct cowfile *cf);
void cow_close(struct cowfile *cf);

int rdo_open(struct rdofile *r, const char *path, bool writable);
int rdo_fingerprint(const struct rdofile *r, uint32_t *fp);
int cow_merged_fingerprint(struct cowfile *cf, const struct rdofile *r,
			   uint32_t *fp);
int cow_rdoid(struct cowfile *cf, const struct rdofile *r, uint64_t *id);
void rdo_close(struct rdofile *r);

int cow_refuse_rdo(const struct cowfile *cf, const struct rdofile *r, int e);
int cow_check_pair(struct cowfile *cf, const struct rdofile *r);

/* ---- image.c ---------------------------------------------------- */

int cow_image_write(struct cowfile *cf, const struct rdofile *r, int fd,
		    const char *label, int progress, uint64_t *written);

/* ---- ctl.c ------------------------------------------------------ */

extern const char cow_ctl_path[];	/* "/dev/cow/ctl" */

int cow_ctl_open(void);
int cow_ctl_ioctl(unsigned long cmd, struct cow_ioc_dev *d);
void cow_devno_limit(char *buf, size_t len);
const char *cow_ctl_strerror(const struct cow_ioc_dev *d, int err);

/* Which file an active cowdevice uses (sysfs rdofile_id, cowfile_id). */
struct cow_file_id {
	bool known;		/* shown (drivers before 4.0: compare paths) */
	unsigned int dev_major, dev_minor;	/* st_dev */
	uint64_t ino;				/* st_ino */
	unsigned int rdev_major, rdev_minor;	/* st_rdev: 0:0 but devices */
};

/* An active cowdevice, as sysfs shows it. */
struct cow_active {
	unsigned int devno;
	char rdofile[COW_PATH_MAX];
	char cowfile[COW_PATH_MAX];
	struct cow_file_id rdo_id, cow_id;
	char state[32];		/* cowloop/state, "" when not shown */
	char fill[64];		/* cowloop/fill, "" when not shown */
	uint64_t size;		/* bytes, 0 when not shown */
};

const char *cow_sysfs(void);
int cow_read_line(const char *path, char *out, size_t len);
int cow_active_list(struct cow_active **v, size_t *n);

/* ---- inuse.c ---------------------------------------------------- */

#define COW_LOCKED	"in use by another cowloop tool (locked)"

int cow_lock(int fd, const char *label, bool write);
int cow_lock_try(int fd, const char *label, bool write);
int cow_file_id_parse(const char *s, struct cow_file_id *id);
bool cow_active_is(const struct cow_file_id *id, const char *path,
		   const struct stat *st);
int cow_active_user(const struct stat *st, unsigned int *devno,
		    const char **as);
int cow_refuse_active(const char *label, const struct stat *st);
int cow_claim(const char *label, int fd, bool write);
int cow_claim_source(const char *label, int fd);
bool cow_same_file(const struct stat *a, const struct stat *b);
int cow_is_cowdevice(const struct stat *st, char *name, size_t len);
int cow_refuse_loop(const char *label, int fd);

/* ---- newfile.c -------------------------------------------------- */

/* A new file, written as .<name>.<tool>-XXXXXX, renamed once complete. */
struct cow_newfile {
	const char *path;	/* its name */
	const char *label;	/* "output <path>", for messages */
	char tmp[COW_PATH_MAX + 64];	/* the temporary name, "" once gone */
	int fd;			/* the temporary file, open for writing */
	int dirfd;		/* its directory, made durable after the rename */
	mode_t mode;		/* its permissions, less the umask */
	bool replace;		/* may replace an existing file of that name */
};

int cow_newfile_check(const char *label, const char *path);
int cow_newfile_open(struct cow_newfile *nf, const char *label,
		     const char *path, mode_t mode, bool replace);
int cow_newfile_commit(struct cow_newfile *nf);
void cow_newfile_abort(struct cow_newfile *nf);
void cow_newfile_close(struct cow_newfile *nf);

/* ---- cowtab.c --------------------------------------------------- */

#define COWTAB_PATH	"/etc/cowtab"

/* A valid line of cowtab. */
struct cowtab_entry {
	unsigned int line;		/* line number in the file */
	char rdofile[COW_PATH_MAX];
	char cowfile[COW_PATH_MAX];
	unsigned int devno;		/* /dev/cow/N */
	bool repair;			/* repair=yes: repair a dirty cowfile */
	bool noauto;			/* not at boot, nor by cowdev -A */
	bool readonly;			/* ro: as cowdev -a -r */
	bool partscan;			/* partscan: as cowdev -a -P */
	bool copyread;			/* copy-on-read: as cowdev -a */
	bool fill;			/* fill: as cowdev -a --fill */
	char cowkey[COW_PATH_MAX];	/* what cowfile resolves to */
};

struct cowtab {
	const char *path;
	struct cowtab_entry *e;		/* the valid lines, in file order */
	size_t n, cap;
};

const char *cowtab_path(void);
int cowtab_parse_line(const char *line, struct cowtab_entry *e, char *why,
		      size_t len);
int cowtab_read(struct cowtab *t, const char *path,
		void (*bad)(void *ctx, const char *path, unsigned int line,
			    const char *why),
		void *ctx);
void cowtab_free(struct cowtab *t);
void cow_path_normalize(const char *path, char *out, size_t len);
void cowtab_path_key(const char *path, char *out, size_t len);

#endif /* _COWLIB_H */
