// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop library: /etc/cowtab, the cowdevices activated at boot (see
 * cowtab(5)).  One line per cowdevice, fields separated by blanks:
 *
 *     rdofile  cowfile  cowdevice  [options]
 *
 * as in fstab, "#" starts a comment line, \040 (octal) stands for a blank
 * in a path, and options are comma-separated ("defaults" or "-": none).
 * A bad line is reported with its file and line number and skipped; the
 * other lines stay usable.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cowlib.h"

/* Where cowtab is: COWLOOP_COWTAB replaces /etc/cowtab (for tests). */
const char *cowtab_path(void)
{
	const char *p = getenv("COWLOOP_COWTAB");

	return p && *p ? p : COWTAB_PATH;
}

/*
 * Next blank-separated field of *@s into @out (@len bytes), octal
 * escapes decoded.  Returns 1, 0 at the end of the line, or -1 with
 * @why set.
 */
static int next_field(const char **s, char *out, size_t len, const char **why)
{
	const char *p = *s + strspn(*s, " \t");
	size_t k = 0;

	if (!*p || *p == '\n')
		return 0;
	for (; *p && !strchr(" \t\n", *p); p++) {
		char c = *p;

		if (c == '\\') {
			if (p[1] < '0' || p[1] > '3' || p[2] < '0' || p[2] > '7' ||
			    p[3] < '0' || p[3] > '7') {
				*why = "a backslash must start an octal escape "
				       "such as \\040 (a blank)";
				return -1;
			}
			c = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 +
				   (p[3] - '0'));
			p += 3;
			if (!c) {
				*why = "\\000 is not allowed in a path";
				return -1;
			}
		}
		if (k + 1 >= len) {
			*why = "field too long";
			return -1;
		}
		out[k++] = c;
	}
	out[k] = '\0';
	*s = p;
	return 1;
}

/* "N" or "/dev/cow/N" -> N below COW_MAXCOWS_LIMIT, else -1. */
static long parse_dev(const char *s)
{
	unsigned long n;
	char *end;

	if (!strncmp(s, "/dev/cow/", 9))
		s += 9;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (*end || errno || n >= COW_MAXCOWS_LIMIT)
		return -1;
	return (long)n;
}

static int parse_options(char *opts, struct cowtab_entry *e, char *why,
			 size_t len)
{
	char *save = NULL, *o;

	if (!strcmp(opts, "-") || !strcmp(opts, "defaults"))
		return 0;
	for (o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (!strcmp(o, "repair=yes") || !strcmp(o, "repair")) {
			e->repair = true;
		} else if (!strcmp(o, "repair=no")) {
			e->repair = false;
		} else if (!strcmp(o, "noauto")) {
			e->noauto = true;
		} else if (!strcmp(o, "ro")) {
			e->readonly = true;
		} else if (!strcmp(o, "partscan")) {
			e->partscan = true;
		} else if (!strcmp(o, "copy-on-read")) {
			e->copyread = true;
		} else if (!strcmp(o, "fill")) {
			e->fill = true;
		} else if (!strcmp(o, "defaults")) {
			continue;
		} else {
			snprintf(why, len, "unknown option '%s' (known: "
				 "repair=yes, repair=no, noauto, ro, partscan, "
				 "copy-on-read, fill)", o);
			return -1;
		}
	}
	if (e->readonly && e->repair) {
		snprintf(why, len, "options ro and repair=yes exclude each "
			 "other (a read-only cowdevice writes nothing)");
		return -1;
	}
	if (e->readonly && (e->copyread || e->fill)) {
		snprintf(why, len, "option ro excludes copy-on-read and fill "
			 "(a read-only cowdevice writes nothing)");
		return -1;
	}
	return 0;
}

/*
 * Parse one line of cowtab into @e.  Returns 1 for an entry, 0 for a
 * blank or comment line, -1 for a bad line with the reason in @why.
 */
int cowtab_parse_line(const char *line, struct cowtab_entry *e, char *why,
		      size_t len)
{
	char dev[32], opts[256], extra[8];
	const char *p = line, *w = NULL;
	long n;
	int r;

	memset(e, 0, sizeof(*e));
	p += strspn(p, " \t");
	if (!*p || *p == '\n' || *p == '#')
		return 0;
	if ((r = next_field(&p, e->rdofile, sizeof(e->rdofile), &w)) < 0 ||
	    (r && (r = next_field(&p, e->cowfile, sizeof(e->cowfile), &w)) < 0) ||
	    (r && (r = next_field(&p, dev, sizeof(dev), &w)) < 0)) {
		snprintf(why, len, "%s", w);
		return -1;
	}
	if (!r) {
		snprintf(why, len, "too few fields: expected rdofile cowfile "
			 "cowdevice [options]");
		return -1;
	}
	r = next_field(&p, opts, sizeof(opts), &w);
	if (r < 0) {
		snprintf(why, len, "options: %s", w);
		return -1;
	}
	if (r && next_field(&p, extra, sizeof(extra), &w)) {
		snprintf(why, len, "too many fields: expected rdofile cowfile "
			 "cowdevice [options]");
		return -1;
	}
	if (e->rdofile[0] != '/' || e->cowfile[0] != '/') {
		snprintf(why, len, "%s %s is not an absolute path",
			 e->rdofile[0] != '/' ? "rdofile" : "cowfile",
			 e->rdofile[0] != '/' ? e->rdofile : e->cowfile);
		return -1;
	}
	if (!strcmp(e->rdofile, e->cowfile)) {
		snprintf(why, len, "rdofile and cowfile are the same file %s",
			 e->rdofile);
		return -1;
	}
	if (!strncmp(e->rdofile, "/dev/cow/", 9)) {
		snprintf(why, len, "rdofile %s is a cowdevice (stacking is not "
			 "supported)", e->rdofile);
		return -1;
	}
	n = parse_dev(dev);
	if (n < 0) {
		snprintf(why, len, "invalid cowdevice '%s' (expected /dev/cow/N "
			 "or N, N below %u)", dev, COW_MAXCOWS_LIMIT);
		return -1;
	}
	e->devno = (unsigned int)n;
	if (r && parse_options(opts, e, why, len) < 0)
		return -1;
	return 1;
}

static int add_entry(struct cowtab *t, const struct cowtab_entry *e)
{
	struct cowtab_entry *v;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 8;

		v = realloc(t->e, cap * sizeof(*v));
		if (!v)
			return -1;
		t->e = v;
		t->cap = cap;
	}
	t->e[t->n++] = *e;
	return 0;
}

/*
 * @path (absolute) made normal by its text alone into @out: "//" and "."
 * components gone, ".." taking the component before it away, no "/" at
 * the end (but for "/").
 */
void cow_path_normalize(const char *path, char *out, size_t len)
{
	size_t k = 0, n;
	const char *p = path;

	while (*p && k + 1 < len) {
		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (!n)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (k && out[k - 1] != '/')
				k--;
			if (k)
				k--;
		} else if (!(n == 1 && p[0] == '.') && k + 1 + n < len) {
			out[k++] = '/';
			memcpy(out + k, p, n);
			k += n;
		}
		p += n;
	}
	if (!k && len > 1)
		out[k++] = '/';
	out[k] = '\0';
}

/*
 * What @path names, as a string to compare: the path with every symlink
 * resolved (realpath), or its directory's when the file does not exist
 * yet (a new cowfile), or, when neither is there yet (at boot, before
 * its file system is mounted), the path made normal by its text.
 */
void cowtab_path_key(const char *path, char *out, size_t len)
{
	char norm[COW_PATH_MAX], dir[PATH_MAX], *slash;

	if (realpath(path, dir) && strlen(dir) < len) {
		strcpy(out, dir);
		return;
	}
	cow_path_normalize(path, norm, sizeof(norm));
	slash = strrchr(norm, '/');
	if (slash && slash != norm) {
		*slash = '\0';
		if (realpath(norm, dir) &&
		    snprintf(out, len, "%s/%s", strcmp(dir, "/") ? dir : "",
			     slash + 1) < (int)len)
			return;
		*slash = '/';
	}
	snprintf(out, len, "%s", norm);
}

/*
 * A line whose cowfile is its rdofile, or whose cowdevice or cowfile an
 * earlier line has; files are compared by what their paths resolve to.
 */
static bool duplicate(const struct cowtab *t, struct cowtab_entry *e,
		      char *why, size_t len)
{
	char rkey[COW_PATH_MAX];
	size_t i;

	cowtab_path_key(e->cowfile, e->cowkey, sizeof(e->cowkey));
	cowtab_path_key(e->rdofile, rkey, sizeof(rkey));
	if (!strcmp(rkey, e->cowkey)) {
		snprintf(why, len, "rdofile and cowfile are the same file %s",
			 e->cowfile);
		return true;
	}
	for (i = 0; i < t->n; i++) {
		if (t->e[i].devno == e->devno) {
			snprintf(why, len, "/dev/cow/%u is already on line %u",
				 e->devno, t->e[i].line);
			return true;
		}
		if (!strcmp(t->e[i].cowkey, e->cowkey)) {
			snprintf(why, len, "cowfile %s is already on line %u",
				 e->cowfile, t->e[i].line);
			return true;
		}
	}
	return false;
}

/*
 * Read cowtab @path into @t.  Each bad line is passed to @bad (with
 * @ctx), or printed as "<tool>: <path>:<line>: <reason>" when @bad is
 * NULL, and skipped.  A missing file is an empty cowtab.  Returns the
 * number of bad lines, or -1 when the file cannot be read (said).
 */
int cowtab_read(struct cowtab *t, const char *path,
		void (*bad)(void *ctx, const char *path, unsigned int line,
			    const char *why),
		void *ctx)
{
	struct cowtab_entry *e = malloc(sizeof(*e));
	char why[COW_PATH_MAX + 128], *line = NULL;
	unsigned int lineno = 0;
	size_t cap = 0;
	int nbad = 0, r;
	FILE *f;

	memset(t, 0, sizeof(*t));
	t->path = path;
	if (!e) {
		cow_err_errno(path, NULL);
		return -1;
	}
	f = fopen(path, "re");
	if (!f) {
		free(e);
		if (errno == ENOENT)
			return 0;
		cow_err_errno(path, NULL);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		r = cowtab_parse_line(line, e, why, sizeof(why));
		if (r > 0 && duplicate(t, e, why, sizeof(why)))
			r = -1;
		if (r < 0) {
			nbad++;
			if (bad)
				bad(ctx, path, lineno, why);
			else
				cow_err(NULL, "%s:%u: %s", path, lineno, why);
			continue;
		}
		e->line = lineno;
		if (r > 0 && add_entry(t, e) < 0) {
			cow_err_errno(path, NULL);
			nbad = -1;
			break;
		}
	}
	if (nbad >= 0 && ferror(f)) {
		cow_err_errno(path, NULL);
		nbad = -1;
	}
	fclose(f);
	free(line);
	free(e);
	if (nbad < 0)
		cowtab_free(t);
	return nbad;
}

void cowtab_free(struct cowtab *t)
{
	free(t->e);
	t->e = NULL;
	t->n = t->cap = 0;
}
