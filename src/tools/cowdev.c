// SPDX-License-Identifier: GPL-2.0
/*
 * cowdev: activate, deactivate and list cowdevices.
 *
 * Activation and deactivation go through the driver's control device
 * /dev/cow/ctl; the list is read from sysfs, where the driver shows each
 * active cowdevice's files in /sys/block/cowN/cowloop/{rdofile,cowfile}.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cowlib.h"

static const struct cow_tool tool = {
	.name = "cowdev",
	.synopsis = "-l [-n] [-J] [-O columns]\n-a [-r] [-P] [--copy-on-read] [--fill] [--standalone] rdofile cowfile [cowdevice]\n-d cowdevice...\n-A [cowdevice...]\n-D\n-c cowdevice file",
	.summary = "Activate, deactivate or list cowdevices (/dev/cow/N).",
	.options = "  -a, --activate    activate a cowdevice for rdofile and cowfile\n"
		   "                    (a new cowfile is created when it does not\n"
		   "                    exist); prints the name of the cowdevice\n"
		   "  -r, --read-only   with -a: a read-only cowdevice; the cowfile\n"
		   "                    must exist and is not written at all\n"
		   "  -P, --partscan    with -a: show the partitions (/dev/cowNpM)\n"
		   "      --copy-on-read  with -a: what is read from the rdofile\n"
		   "                    is copied into the cowfile too\n"
		   "      --fill        with -a: every unit is copied into the\n"
		   "                    cowfile, in the background; then the\n"
		   "                    rdofile is not read any more\n"
		   "      --standalone  with -a: the rdofile is not opened (its\n"
		   "                    server gone): the cowfile must be filled\n"
		   "  -d, --deactivate  deactivate cowdevices (/dev/cow/N or N)\n"
		   "  -A, --activate-cowtab  activate the cowdevices of /etc/cowtab\n"
		   "                    (all but noauto ones, or those named)\n"
		   "  -D, --deactivate-all  deactivate every active cowdevice\n"
		   "                    (those of cowtab and the others)\n"
		   "  -c, --checkpoint  write a checkpoint of an active cowdevice:\n"
		   "                    a copy of its cowfile, clean, in a new\n"
		   "                    file; the device stays in use\n"
		   "  -l, --list        list the active cowdevices\n"
		   "  -J, --json        with -l: in JSON (see cowdev(8))\n"
		   "  -n, --noheadings  with -l: no heading line\n"
		   "  -O, --output COLS with -l: the columns, of NAME, RDOFILE,\n"
		   "                    COWFILE, STATE, SIZE, FILL (default the\n"
		   "                    first three; with -J all)\n",
};

enum { OPT_COPYREAD = 0x200, OPT_FILL, OPT_STANDALONE };

static const struct option longopts[] = {
	{ "activate", no_argument, NULL, 'a' },
	{ "deactivate", no_argument, NULL, 'd' },
	{ "deactivate-all", no_argument, NULL, 'D' },
	{ "checkpoint", no_argument, NULL, 'c' },
	{ "activate-cowtab", no_argument, NULL, 'A' },
	{ "list", no_argument, NULL, 'l' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "partscan", no_argument, NULL, 'P' },
	{ "copy-on-read", no_argument, NULL, OPT_COPYREAD },
	{ "fill", no_argument, NULL, OPT_FILL },
	{ "standalone", no_argument, NULL, OPT_STANDALONE },
	{ "json", no_argument, NULL, 'J' },
	{ "noheadings", no_argument, NULL, 'n' },
	{ "output", required_argument, NULL, 'O' },
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

#define DEV_PREFIX	"/dev/cow/"

/* "/dev/cow/N" or "N" -> N; usage error otherwise. */
static __u32 parse_devno(const char *s)
{
	const char *p = s;
	unsigned long n;
	char *end, limit[128];

	if (!strncmp(p, DEV_PREFIX, strlen(DEV_PREFIX)))
		p += strlen(DEV_PREFIX);
	errno = 0;
	n = strtoul(p, &end, 10);
	if (*p < '0' || *p > '9' || *end)
		cow_usage_error("invalid cowdevice '%s' (expected /dev/cow/N)",
				s);
	if (errno || n >= COW_MAXCOWS_LIMIT) {
		cow_devno_limit(limit, sizeof(limit));
		cow_usage_error("invalid cowdevice '%s': beyond /dev/cow/%u, the "
				"largest there can be (%s)", s,
				COW_MAXCOWS_LIMIT - 1, limit);
	}
	return (__u32)n;
}

/*
 * @path made absolute against the working directory, by its text only:
 * nothing is looked up (a standalone activation's rdofile, whose server
 * may be gone: a lookup on a hard NFS mount would never return).
 */
static int text_path(const char *what, const char *path, char *out)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		if (strlen(path) < COW_PATH_MAX) {
			strcpy(out, path);
			return 0;
		}
	} else if (getcwd(cwd, sizeof(cwd)) &&
		   snprintf(out, COW_PATH_MAX, "%s/%s", cwd, path) <
		   COW_PATH_MAX) {
		return 0;
	}
	cow_err(path, "%s: path too long, or the working directory unknown",
		what);
	return -1;
}

/*
 * Absolute path of @path (the @what: rdofile or cowfile) into @out; the
 * last component may not exist when @may_be_new.
 */
static int abs_path(const char *what, const char *path, char *out,
		    bool may_be_new)
{
	char buf[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];
	int e;

	if (realpath(path, buf)) {
		if (strlen(buf) >= COW_PATH_MAX)
			goto toolong;
		strcpy(out, buf);
		return 0;
	}
	if (errno != ENOENT || !may_be_new || strlen(path) >= PATH_MAX)
		goto fail;
	strcpy(dir, path);
	strcpy(base, path);
	if (!realpath(dirname(dir), buf))
		goto fail;
	if (snprintf(out, COW_PATH_MAX, "%s/%s", strcmp(buf, "/") ? buf : "",
		     basename(base)) >= COW_PATH_MAX)
		goto toolong;
	return 0;
toolong:
	errno = ENAMETOOLONG;
fail:
	e = errno;
	snprintf(buf, sizeof(buf), "%s %s", what, path);
	errno = e;
	cow_err_errno(buf, NULL);
	return -1;
}

/*
 * The files of an activation, held open by cowdev while the driver opens
 * them.  Opened here first so that what the driver would refuse as not a
 * regular file (or block device) is refused without waiting on it (the
 * open of a FIFO blocks), so that cowdev -A can read the cowfile's
 * header, and to lock them as the other tools do (the rdofile shared,
 * the cowfile exclusive unless read-only): no activation while cowmerge
 * or cowrepair works on them; they check for active cowdevices once
 * they hold their locks.  A cowfile that does not exist yet is left to
 * the driver, which creates it (not read-only: -r needs one).
 */
struct claim {
	int rdo, cow;		/* -1 when not open */
	char rlabel[32 + COW_PATH_MAX], clabel[32 + COW_PATH_MAX];
};

static void unclaim(struct claim *c)
{
	if (c->rdo >= 0)
		close(c->rdo);
	if (c->cow >= 0)
		close(c->cow);
	c->rdo = c->cow = -1;
}

static int claim(struct claim *c, const char *rdofile, const char *cowfile,
		 bool readonly, bool standalone)
{
	struct stat rs = { 0 }, cs;

	snprintf(c->rlabel, sizeof(c->rlabel), "rdofile %s", rdofile);
	snprintf(c->clabel, sizeof(c->clabel), "cowfile %s", cowfile);
	c->cow = -1;
	c->rdo = -1;
	if (!standalone) {	/* standalone: the rdofile is not touched */
		c->rdo = cow_open_file(c->rlabel, rdofile, O_RDONLY,
				       COW_E_RDOTYPE, &rs);
		if (c->rdo < 0)
			return -1;
	}
	if (readonly || stat(cowfile, &cs) == 0 || errno != ENOENT) {
		c->cow = cow_open_file(c->clabel, cowfile, readonly ? O_RDONLY :
				       O_RDWR, COW_E_COWTYPE, &cs);
		if (c->cow < 0)
			goto fail;
		if (c->rdo >= 0 && rs.st_dev == cs.st_dev &&
		    rs.st_ino == cs.st_ino) {
			cow_err(c->rlabel, "%s", cow_strerror(COW_E_SAMEFILE));
			goto fail;
		}
	}
	if ((c->rdo < 0 || !cow_lock(c->rdo, c->rlabel, false)) &&
	    (c->cow < 0 || !cow_lock(c->cow, c->clabel, !readonly)))
		return 0;
fail:
	unclaim(c);
	return -1;
}

static void activate_failed(const struct cow_ioc_dev *d, const char *why)
{
	cow_err(NULL, "cannot activate rdofile %s with cowfile %s: %s",
		d->rdofile, d->cowfile, why);
}

static int activate(char **args, int nargs, __u32 flags)
{
	static struct cow_ioc_dev d;
	struct claim c;
	int r;

	if (nargs < 2 || nargs > 3)
		cow_usage_error("-a needs rdofile cowfile [cowdevice]");
	d.devno = nargs == 3 ? parse_devno(args[2]) : COW_DEV_ANY;
	d.flags = flags;
	if (((flags & COW_ACT_STANDALONE) ?
	     text_path("rdofile", args[0], d.rdofile) :
	     abs_path("rdofile", args[0], d.rdofile, false)) < 0 ||
	    abs_path("cowfile", args[1], d.cowfile,
		     !(flags & (COW_ACT_READONLY | COW_ACT_STANDALONE))) < 0 ||
	    claim(&c, d.rdofile, d.cowfile, flags & COW_ACT_READONLY,
		  flags & COW_ACT_STANDALONE) < 0)
		return COW_EXIT_FAIL;
	r = cow_ctl_ioctl(COW_IOC_ACTIVATE, &d);
	unclaim(&c);
	switch (r) {
	case 0:
		printf(DEV_PREFIX "%u\n", d.devno);
		return COW_EXIT_OK;
	case -1:
		activate_failed(&d, cow_ctl_strerror(&d, errno));
	}
	return COW_EXIT_FAIL;
}

static int deactivate_one(__u32 devno)
{
	struct cow_ioc_dev d = { .devno = devno };
	char name[32];

	snprintf(name, sizeof(name), DEV_PREFIX "%u", d.devno);
	switch (cow_ctl_ioctl(COW_IOC_DEACTIVATE, &d)) {
	case 0:
		return COW_EXIT_OK;
	case -1:
		if (errno == EBUSY && !d.reason)
			cow_err(name, "cannot deactivate: device is in use "
				"(mounted or open)");
		else
			cow_err(name, "cannot deactivate: %s",
				cow_ctl_strerror(&d, errno));
	}
	return COW_EXIT_FAIL;
}

/*
 * -c cowdevice file: a checkpoint of the active cowdevice in a new file
 * (created by the driver; removed here if the checkpoint fails).  Says
 * how long the device's I/O was held.
 */
static int checkpoint(char **args, int nargs)
{
	static struct cow_ioc_dev d;
	char name[32];

	if (nargs != 2)
		cow_usage_error("-c needs cowdevice file");
	d.devno = parse_devno(args[0]);
	snprintf(name, sizeof(name), DEV_PREFIX "%u", d.devno);
	if (abs_path("checkpoint file", args[1], d.cowfile, true) < 0)
		return COW_EXIT_FAIL;
	if (!access(d.cowfile, F_OK)) {
		cow_err(d.cowfile, "exists: a checkpoint goes to a new file");
		return COW_EXIT_FAIL;
	}
	if (cow_ctl_ioctl(COW_IOC_CHECKPOINT, &d) < 0) {
		int err = errno;

		if (err != EEXIST)
			unlink(d.cowfile);
		if (err == ENXIO && !d.reason)
			cow_err(name, "cannot checkpoint: not an active cowdevice");
		else
			cow_err(name, "cannot checkpoint to %s: %s", d.cowfile,
				cow_ctl_strerror(&d, err));
		return COW_EXIT_FAIL;
	}
	printf("%s: checkpoint %s (I/O held %llu.%03llu ms)\n", name,
	       d.cowfile, (unsigned long long)d.detail / 1000,
	       (unsigned long long)d.detail % 1000);
	return COW_EXIT_OK;
}

/* -d: each cowdevice named; goes on after a failure, fails at the end. */
static int deactivate(char **args, int nargs)
{
	int i, ret = COW_EXIT_OK;

	if (nargs < 1)
		cow_usage_error("-d needs a cowdevice");
	for (i = 0; i < nargs; i++)
		parse_devno(args[i]);		/* usage errors first */
	for (i = 0; i < nargs; i++)
		if (deactivate_one(parse_devno(args[i])) != COW_EXIT_OK)
			ret = COW_EXIT_FAIL;
	return ret;
}

/* Is the driver there?  Says so when not. */
static bool module_loaded(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/module/cowloop", cow_sysfs());
	if (!access(path, F_OK))
		return true;
	cow_err(NULL, "the cowloop module is not loaded (no %s): no "
		"cowdevices (try: modprobe cowloop)", path);
	return false;
}

/*
 * -D: every active cowdevice, cowtab's and the others (as umount -a and
 * swapoff -a act on what is active, not on fstab).
 */
static int deactivate_all(int nargs)
{
	struct cow_active *v;
	int ret = COW_EXIT_OK;
	size_t n, i;

	if (nargs)
		cow_usage_error("-D takes no arguments");
	if (!module_loaded() || cow_active_list(&v, &n) < 0)
		return COW_EXIT_FAIL;
	for (i = 0; i < n; i++)
		if (deactivate_one(v[i].devno) != COW_EXIT_OK)
			ret = COW_EXIT_FAIL;
	free(v);
	return ret;
}

/* ---- -A: the cowdevices of cowtab ---------------------------------- */

/* A bad cowtab line, not reported (cowdev -A with names). */
static void tab_bad_quiet(void *ctx, const char *path, unsigned int line,
			  const char *why)
{
	(void)ctx;
	(void)path;
	(void)line;
	(void)why;
}

struct tabrun {
	const char *path;	/* of cowtab */
	char **names;		/* cowdevices named on the command line */
	int nnames;
	bool *found;		/* per name: it has an entry */
	bool ctl_gone;		/* the control device could not be opened */
	struct cow_active *act;	/* what is active now */
	size_t nact;
};

/* Is @path the file an active cowdevice shows as @id (or @apath)? */
static bool is_active_file(const struct cow_file_id *id, const char *apath,
			   const char *path)
{
	struct stat st;

	if (!strcmp(apath, path))
		return true;
	return !stat(path, &st) && cow_active_is(id, apath, &st);
}

/* "<cowtab>:<line>: " then the message, on stderr (the journal at boot). */
static void __attribute__((format(printf, 2, 3)))
tab_err(const struct cowtab_entry *e, const char *fmt, ...)
{
	char msg[3 * COW_PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cow_err(NULL, "%s:%u: %s", cowtab_path(), e->line, msg);
}

/*
 * Is the cowfile open as @fd (-1: none yet) dirty (not closed properly)?
 * Only a header that decodes says so; a new, short or bad cowfile is for
 * the driver to judge.
 */
static bool cowfile_dirty(int fd)
{
	uint8_t blk[COW_HDRSIZE];
	struct cow_hdr h;

	return fd >= 0 &&
	       cow_pread_full(fd, blk, sizeof(blk), 0) == (ssize_t)sizeof(blk) &&
	       !cow_hdr_decode(&h, blk) && (h.flags & COW_F_DIRTY);
}

/* The entry being activated, for tab_said(). */
static const struct cowtab_entry *tab_entry;

/* A library message about the entry's files, named with its line. */
static void tab_said(const char *msg)
{
	tab_err(tab_entry, "%s: " DEV_PREFIX "%u not activated", msg,
		tab_entry->devno);
}

/* Activate one cowtab entry; COW_EXIT_OK also when already active. */
static int tab_activate(struct tabrun *r, const struct cowtab_entry *e)
{
	static struct cow_ioc_dev d;
	struct claim c;
	size_t i;
	int ret;

	for (i = 0; i < r->nact; i++) {
		const struct cow_active *a = &r->act[i];

		if (a->devno != e->devno)
			continue;
		if (is_active_file(&a->rdo_id, a->rdofile, e->rdofile) &&
		    is_active_file(&a->cow_id, a->cowfile, e->cowfile))
			return COW_EXIT_OK;
		tab_err(e, DEV_PREFIX "%u is already active with rdofile %s "
			"and cowfile %s: not activated for rdofile %s, "
			"cowfile %s", e->devno, a->rdofile, a->cowfile,
			e->rdofile, e->cowfile);
		return COW_EXIT_FAIL;
	}
	tab_entry = e;
	cow_err_hook = tab_said;
	ret = claim(&c, e->rdofile, e->cowfile, e->readonly, false);
	cow_err_hook = NULL;
	if (ret)
		return COW_EXIT_FAIL;
	memset(&d, 0, sizeof(d));
	if (cowfile_dirty(c.cow)) {
		if (!e->repair) {
			tab_err(e, "cowfile %s is dirty (not closed properly): "
				DEV_PREFIX "%u not activated (cowtab says "
				"repair=no; run cowrepair %s, or set "
				"repair=yes)", e->cowfile, e->devno,
				e->cowfile);
			unclaim(&c);
			return COW_EXIT_FAIL;
		}
		tab_err(e, "cowfile %s is dirty (not closed properly): "
			"repairing it as cowtab says (repair=yes)", e->cowfile);
		d.flags = COW_ACT_REPAIR;
	}
	if (r->ctl_gone) {
		unclaim(&c);
		return COW_EXIT_FAIL;
	}
	d.flags |= (e->readonly ? COW_ACT_READONLY : 0) |
		   (e->partscan ? COW_ACT_PARTSCAN : 0) |
		   (e->copyread ? COW_ACT_COPYREAD : 0) |
		   (e->fill ? COW_ACT_FILL : 0);
	d.devno = e->devno;
	snprintf(d.rdofile, sizeof(d.rdofile), "%s", e->rdofile);
	snprintf(d.cowfile, sizeof(d.cowfile), "%s", e->cowfile);
	ret = cow_ctl_ioctl(COW_IOC_ACTIVATE, &d);
	unclaim(&c);
	switch (ret) {
	case 0:
		printf(DEV_PREFIX "%u\n", d.devno);
		return COW_EXIT_OK;
	case -1:
		tab_err(e, "cannot activate rdofile %s with cowfile %s: %s",
			e->rdofile, e->cowfile, cow_ctl_strerror(&d, errno));
		break;
	default:		/* no control device: said once */
		r->ctl_gone = true;
	}
	return COW_EXIT_FAIL;
}

/* Is @e wanted: named on the command line, or any but noauto ones? */
static bool tab_wanted(struct tabrun *r, const struct cowtab_entry *e)
{
	bool want = false;
	int i;

	if (!r->nnames)
		return !e->noauto;
	for (i = 0; i < r->nnames; i++) {
		if (parse_devno(r->names[i]) == e->devno) {
			r->found[i] = true;
			want = true;
		}
	}
	return want;
}

/*
 * -A [cowdevice...]: activate the entries of cowtab, in file order; ones
 * already active with their files are left as they are.  Bad lines and
 * failed activations are reported with their cowtab line and do not stop
 * the others.  With cowdevices named, only their entries (noauto or
 * not), and bad lines only when a name has no entry.
 */
static int activate_cowtab(char **args, int nargs)
{
	struct tabrun r = { .path = cowtab_path(), .names = args,
			    .nnames = nargs };
	int ret = COW_EXIT_OK, i, nbad;
	struct cowtab t;
	size_t k;

	for (i = 0; i < nargs; i++)
		parse_devno(args[i]);		/* usage errors first */
	r.found = calloc((size_t)nargs + 1, sizeof(*r.found));
	if (!r.found) {
		cow_err_errno(NULL, "-A");
		return COW_EXIT_FAIL;
	}
	nbad = cowtab_read(&t, r.path, nargs ? tab_bad_quiet : NULL, NULL);
	if (nbad < 0 || cow_active_list(&r.act, &r.nact) < 0) {
		cowtab_free(&t);
		free(r.found);
		return COW_EXIT_FAIL;
	}
	if (nbad && !nargs)
		ret = COW_EXIT_FAIL;
	for (k = 0; k < t.n; k++)
		if (tab_wanted(&r, &t.e[k]) &&
		    tab_activate(&r, &t.e[k]) != COW_EXIT_OK)
			ret = COW_EXIT_FAIL;
	for (i = 0; i < nargs; i++) {
		if (r.found[i])
			continue;
		if (nbad) {	/* perhaps the entry meant */
			cowtab_free(&t);
			cowtab_read(&t, r.path, NULL, NULL);
			nbad = 0;
		}
		cow_err(NULL, "%s: no entry for " DEV_PREFIX "%u", r.path,
			parse_devno(args[i]));
		ret = COW_EXIT_FAIL;
	}
	cowtab_free(&t);
	free(r.act);
	free(r.found);
	return ret;
}

/* The columns of -l (-O picks them), as losetup -l has. */
enum { COL_NAME, COL_RDOFILE, COL_COWFILE, COL_STATE, COL_SIZE, COL_FILL,
	NCOLS };

static const struct column {
	const char *id;		/* -O name, lower case for --json */
	const char *head;	/* table heading */
	int minw;		/* the original's widths for the first three */
} columns[NCOLS] = {
	[COL_NAME]	= { "name", "cowdevice", 12 },
	[COL_RDOFILE]	= { "rdofile", "read-only file", 16 },
	[COL_COWFILE]	= { "cowfile", "copy-on-write file", 32 },
	[COL_STATE]	= { "state", "state", 5 },
	[COL_SIZE]	= { "size", "size", 4 },
	[COL_FILL]	= { "fill", "fill", 4 },
};

struct listopts {
	bool json, noheadings;
	int cols[NCOLS], ncols;
};

/* -O NAME,RDOFILE,...: usage error for an unknown column. */
static void parse_columns(struct listopts *o, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *t;
	int i;

	if (!copy)
		cow_usage_error("-O: %s", strerror(errno));
	o->ncols = 0;
	for (t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NCOLS && strcasecmp(t, columns[i].id); i++)
			;
		if (i == NCOLS)
			cow_usage_error("-O: unknown column '%s' (known: NAME, "
					"RDOFILE, COWFILE, STATE, SIZE, FILL)",
					t);
		if (o->ncols < NCOLS)
			o->cols[o->ncols++] = i;
	}
	free(copy);
	if (!o->ncols)
		cow_usage_error("-O: no column named");
}

/*
 * The FILL cell: of cowloop/fill's "PRESENT TOTAL COPIED STATE", the
 * share of units in the cowfile and the state ("37.5% filling",
 * "100% done"); "-" for a device that copies nothing, or an old driver.
 */
static size_t fill_cell(const char *fill, char *out, size_t len)
{
	unsigned long long present, total, copied;
	char state[32];

	if (sscanf(fill, "%llu %llu %llu %31s", &present, &total, &copied,
		   state) != 4 || !strcmp(state, "off") || !total)
		return (size_t)snprintf(out, len, "-");
	return (size_t)snprintf(out, len, "%.1f%% %s",
				100.0 * (double)present / (double)total, state);
}

/*
 * Column @col of @a as a table cell into @out; returns its width.  File
 * names as cow_escape() shows them (as lsblk and losetup do): blanks,
 * controls, backslashes and bytes that are not valid UTF-8 as \\xNN.
 */
static size_t value(const struct cow_active *a, int col, char *out,
		    size_t len)
{
	switch (col) {
	case COL_NAME:
		return (size_t)snprintf(out, len, DEV_PREFIX "%u", a->devno);
	case COL_RDOFILE:
		return cow_escape(a->rdofile, out, len);
	case COL_COWFILE:
		return cow_escape(a->cowfile, out, len);
	case COL_STATE:
		return cow_escape(a->state[0] ? a->state : "-", out, len);
	case COL_FILL:
		return fill_cell(a->fill, out, len);
	default:
		return (size_t)snprintf(out, len, "%llu",
					(unsigned long long)a->size);
	}
}

static void print_json(const struct listopts *o, const struct cow_active *v,
		       size_t n)
{
	char name[32];
	size_t i;
	int c;

	printf("{\n   \"cowdevices\": [");
	for (i = 0; i < n; i++) {
		printf("%s\n      {", i ? "," : "");
		for (c = 0; c < o->ncols; c++) {
			int col = o->cols[c];

			if (c)
				printf(", ");
			if (col == COL_RDOFILE || col == COL_COWFILE) {
				cow_json_name(columns[col].id,
					      col == COL_RDOFILE ? v[i].rdofile
								 : v[i].cowfile);
				continue;
			}
			printf("\"%s\": ", columns[col].id);
			if (col == COL_FILL) {
				char cell[64];

				fill_cell(v[i].fill, cell, sizeof(cell));
				if (strcmp(cell, "-"))
					cow_json_str(cell);
				else
					printf("null");
				continue;
			}
			if (col == COL_SIZE && v[i].size) {
				printf("%llu", (unsigned long long)v[i].size);
				continue;
			}
			if ((col == COL_SIZE) || (col == COL_STATE &&
						  !v[i].state[0])) {
				printf("null");	/* not shown by this driver */
				continue;
			}
			snprintf(name, sizeof(name), DEV_PREFIX "%u",
				 v[i].devno);
			cow_json_str(col == COL_NAME ? name : v[i].state);
		}
		printf("}");
	}
	printf("%s]\n}\n", n ? "\n   " : "");
}

/* Left-aligned columns as wide as their widest cell (the last padded too). */
static int print_table(const struct listopts *o, const struct cow_active *v,
		       size_t n)
{
	size_t w[NCOLS], cw, len = 4 * COW_PATH_MAX + 8;
	char *buf = malloc(len);
	size_t i;
	int c;

	if (!buf) {
		cow_err_errno(NULL, "list");
		return -1;
	}
	for (c = 0; c < o->ncols; c++) {
		w[c] = (size_t)columns[o->cols[c]].minw;
		if (!o->noheadings && strlen(columns[o->cols[c]].head) > w[c])
			w[c] = strlen(columns[o->cols[c]].head);
		for (i = 0; i < n; i++) {
			cw = value(&v[i], o->cols[c], buf, len);
			if (cw > w[c])
				w[c] = cw;
		}
	}
	if (!o->noheadings) {
		for (c = 0; c < o->ncols; c++)
			printf("%s%-*s", c ? " " : "", (int)w[c],
			       columns[o->cols[c]].head);
		putchar('\n');
	}
	for (i = 0; i < n; i++) {
		for (c = 0; c < o->ncols; c++) {
			cw = value(&v[i], o->cols[c], buf, len);
			printf("%s%s%*s", c ? " " : "", buf, (int)(w[c] - cw),
			       "");
		}
		putchar('\n');
	}
	free(buf);
	return 0;
}

/* The active cowdevices from sysfs (COWLOOP_SYSFS replaces /sys). */
static int list(int nargs, const struct listopts *o)
{
	struct cow_active *v;
	size_t n;
	int r;

	if (nargs)
		cow_usage_error("-l takes no arguments");
	if (!module_loaded() || cow_active_list(&v, &n) < 0)
		return COW_EXIT_FAIL;
	if (o->json) {
		print_json(o, v, n);
		r = 0;
	} else {
		r = print_table(o, v, n);
	}
	free(v);
	return r ? COW_EXIT_FAIL : COW_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct listopts lo = { .ncols = 0 };
	__u32 flags = 0;
	int c, mode = 0;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, "acdADlJnO:rP" COW_SHORTOPTS_STD, longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
		case 'c':
		case 'd':
		case 'A':
		case 'D':
		case 'l':
			if (mode && mode != c)
				cow_usage_error("only one of -a, -c, -d, -A, -D, -l");
			mode = c;
			break;
		case 'J':
			lo.json = true;
			break;
		case 'n':
			lo.noheadings = true;
			break;
		case 'O':
			parse_columns(&lo, optarg);
			break;
		case 'r':
			flags |= COW_ACT_READONLY;
			break;
		case 'P':
			flags |= COW_ACT_PARTSCAN;
			break;
		case OPT_COPYREAD:
			flags |= COW_ACT_COPYREAD;
			break;
		case OPT_FILL:
			flags |= COW_ACT_FILL;
			break;
		case OPT_STANDALONE:
			flags |= COW_ACT_STANDALONE;
			break;
		default:
			cow_std_option(c);
		}
	}
	if ((lo.json || lo.noheadings || lo.ncols) && mode != 'l')
		cow_usage_error("-J, -n and -O go with -l");
	if (flags && mode != 'a')
		cow_usage_error("-r, -P, --copy-on-read, --fill and --standalone "
				"go with -a");
	if ((flags & COW_ACT_STANDALONE) &&
	    (flags & (COW_ACT_COPYREAD | COW_ACT_FILL)))
		cow_usage_error("--standalone: nothing is copied without the "
				"rdofile (not with --copy-on-read, --fill)");
	if (!lo.ncols) {
		lo.ncols = lo.json ? NCOLS : COL_STATE;
		for (c = 0; c < lo.ncols; c++)
			lo.cols[c] = c;
	}
	switch (mode) {
	case 'a':
		return activate(argv + optind, argc - optind, flags);
	case 'c':
		return checkpoint(argv + optind, argc - optind);
	case 'd':
		return deactivate(argv + optind, argc - optind);
	case 'A':
		return activate_cowtab(argv + optind, argc - optind);
	case 'D':
		return deactivate_all(argc - optind);
	case 'l':
		return list(argc - optind, &lo);
	}
	cow_usage_error("one of -a, -c, -d, -A, -D or -l is required");
}
