// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop library: what every tool's command line shares.  Messages are
 * "<tool>: <file>: <reason>", --help lists every option, --version prints
 * "<tool> (cowloop) <version>"; exit 0 success, 1 failure, 2 usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio_ext.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cowlib.h"

const char *cow_progname = "cowloop";
static const struct cow_tool *cow_tool;

static int cow_fail_status(void)
{
	return cow_tool && cow_tool->fail_status ? cow_tool->fail_status
						 : COW_EXIT_FAIL;
}

/*
 * At exit: whatever went to standard output must have been written, as
 * coreutils' close_stdout() checks (a full disk, a closed pipe, a write
 * error: "cowlist f >/dev/full" fails).  The exit status is then the
 * tool's failure status.
 */
static void cow_close_stdout(void)
{
	bool pending = __fpending(stdout) != 0, failed = ferror(stdout);

	errno = 0;
	if (fclose(stdout) && (pending || errno != EBADF))
		failed = true;
	if (!failed)
		return;
	if (errno)
		fprintf(stderr, "%s: write error on standard output: %s\n",
			cow_progname, strerror(errno));
	else
		fprintf(stderr, "%s: write error on standard output\n",
			cow_progname);
	_exit(cow_fail_status());
}

void cow_tool_init(const struct cow_tool *t)
{
	cow_tool = t;
	cow_progname = t->name;
	atexit(cow_close_stdout);
}

void cow_help(void)
{
	const char *s = cow_tool->synopsis;
	const char *prefix = "Usage:";

	do {
		size_t n = strcspn(s, "\n");

		printf("%s %s%s%.*s\n", prefix, cow_progname, n ? " " : "",
		       (int)n, s);
		prefix = "   or:";
		s += n + (s[n] == '\n');
	} while (*s);
	printf("%s\n\nOptions:\n%s", cow_tool->summary, cow_tool->options);
	printf("  -h, --help        display this help and exit\n"
	       "  -V, --version     output version information and exit\n");
}

void cow_version(void)
{
	printf("%s (cowloop) %s\n", cow_progname, COWLOOP_VERSION);
}

static void __attribute__((noreturn)) cow_try_help(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n",
		cow_progname);
	exit(cow_tool && cow_tool->usage_status ? cow_tool->usage_status
						: COW_EXIT_USAGE);
}

/* The getopt_long cases every tool shares: --help, --version, errors. */
void cow_std_option(int c)
{
	switch (c) {
	case 'h':
	case COW_OPT_HELP:
		cow_help();
		exit(COW_EXIT_OK);
	case 'V':
	case COW_OPT_VERSION:
		cow_version();
		exit(COW_EXIT_OK);
	default:		/* getopt_long already said what is wrong */
		cow_try_help();
	}
}

void cow_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cow_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cow_try_help();
}

void (*cow_err_hook)(const char *msg);

void cow_err(const char *file, const char *fmt, ...)
{
	char msg[3 * COW_PATH_MAX + 256];
	size_t k = 0;
	va_list ap;

	fflush(stdout);		/* keep the order of what the user reads */
	if (file)
		k = (size_t)snprintf(msg, sizeof(msg), "%s: ", file);
	if (k >= sizeof(msg))
		k = sizeof(msg) - 1;
	va_start(ap, fmt);
	vsnprintf(msg + k, sizeof(msg) - k, fmt, ap);
	va_end(ap);
	if (cow_err_hook) {
		void (*hook)(const char *msg) = cow_err_hook;

		cow_err_hook = NULL;	/* the hook may call cow_err */
		hook(msg);
		cow_err_hook = hook;
	} else {
		fprintf(stderr, "%s: %s\n", cow_progname, msg);
	}
}

/*
 * @text with @extra in parentheses: "text (extra)", or, when @text ends
 * in parentheses already, "text (its own; extra)": never "(...) (...)".
 */
void cow_reason_with(char *buf, size_t len, const char *text,
		     const char *extra)
{
	size_t n = strlen(text);

	if (n && text[n - 1] == ')')
		snprintf(buf, len, "%.*s; %s)", (int)(n - 1), text, extra);
	else
		snprintf(buf, len, "%s (%s)", text, extra);
}

/* "<tool>: <file>: <reason> (<extra>)", as cow_reason_with() puts it. */
void cow_err_reason(const char *file, int reason, const char *fmt, ...)
{
	char extra[2 * COW_PATH_MAX], msg[3 * COW_PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(extra, sizeof(extra), fmt, ap);
	va_end(ap);
	cow_reason_with(msg, sizeof(msg), cow_strerror(reason), extra);
	cow_err(file, "%s", msg);
}

/* "<tool>: <file>: [<what>: ]<strerror(errno)>" */
void cow_err_errno(const char *file, const char *what)
{
	const char *e = strerror(errno);

	if (what)
		cow_err(file, "%s: %s", what, e);
	else
		cow_err(file, "%s", e);
}

/* Ask on the terminal; true only for an answer starting with y or Y. */
bool cow_ask(const char *question)
{
	char line[64];

	printf("%s [y/N] ", question);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

/* @one or @many, as @n says: "1 block", "2 blocks". */
const char *cow_plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* @bytes as "1.4 MiB" (binary units, one decimal below 10). */
void cow_human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB",
					    "PiB", "EiB" };
	unsigned int i = 0;
	double v = (double)bytes;

	while (v >= 1024 && i + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		i++;
	}
	if (!i)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, v < 10 ? "%.1f %s" : "%.0f %s", v, unit[i]);
}

/*
 * The length (1 to 4) of the valid UTF-8 sequence at @s, with its code
 * point in *@cp; 0 when @s does not start one (a stray or truncated
 * sequence, an overlong form, a surrogate, beyond U+10FFFF).
 */
static int cow_utf8(const char *s, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t v;
	int n, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, v = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, v = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, v = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* the NUL too */
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
	    v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Is @s valid UTF-8? */
static bool cow_utf8_valid(const char *s)
{
	uint32_t cp;
	int n;

	for (; *s; s += n)
		if (!(n = cow_utf8(s, &cp)))
			return false;
	return true;
}

/*
 * @s as a table cell or a terminal shows it (ls -b, lsblk, losetup):
 * printable characters of valid UTF-8 as they are; blanks, controls (C0,
 * DEL, C1, line and paragraph separators), backslashes and every byte
 * that is not valid UTF-8 as \xNN, so that the cell splits on white
 * space and every byte can be told.  @out has room for 4 bytes per byte
 * of @s; returns the width in characters.
 */
size_t cow_escape(const char *s, char *out, size_t len)
{
	size_t k = 0, w = 0;
	uint32_t cp;
	int n, i;

	for (; *s; s += n) {
		n = cow_utf8(s, &cp);
		if (n && cp > ' ' && cp != '\\' && cp != 0x7f &&
		    !(cp >= 0x80 && cp < 0xa0) && cp != 0x2028 && cp != 0x2029) {
			if (k + (size_t)n >= len)
				break;
			memcpy(out + k, s, (size_t)n);
			k += (size_t)n;
			w++;
			continue;
		}
		n = n ? n : 1;
		if (k + 4 * (size_t)n >= len)
			break;
		for (i = 0; i < n; i++)
			k += (size_t)snprintf(out + k, len - k, "\\x%02x",
					      (unsigned char)s[i]);
		w += 4 * (size_t)n;
	}
	out[k] = '\0';
	return w;
}

/*
 * @s as a JSON string on stdout, always valid UTF-8: quotes, backslashes
 * and controls escaped, each byte that is not valid UTF-8 as U+FFFD.
 */
void cow_json_str(const char *s)
{
	uint32_t cp;
	int n;

	putchar('"');
	for (; *s; s += n) {
		n = cow_utf8(s, &cp);
		if (!n) {
			fputs("\\ufffd", stdout);
			n = 1;
		} else if (cp == '"' || cp == '\\') {
			printf("\\%c", (char)cp);
		} else if (cp < 0x20 || cp == 0x7f) {
			printf("\\u%04x", (unsigned int)cp);
		} else {
			fwrite(s, 1, (size_t)n, stdout);
		}
	}
	putchar('"');
}

/*
 * "@key": @s, a file name in JSON; when @s is not valid UTF-8, also
 * "@key-escaped": the name as cow_escape() shows it, every byte told.
 */
void cow_json_name(const char *key, const char *s)
{
	char *esc;
	size_t len = 4 * strlen(s) + 1;

	printf("\"%s\": ", key);
	cow_json_str(s);
	if (cow_utf8_valid(s))
		return;
	esc = malloc(len);
	if (!esc)
		return;		/* the value above stands alone */
	cow_escape(s, esc, len);
	printf(", \"%s-escaped\": ", key);
	cow_json_str(esc);
	free(esc);
}

/*
 * A JSON object on standard output, one key a line indented by four, as
 * qemu-img info --output=json prints it: cow_json_begin(), a call per
 * key, cow_json_end().
 */
static bool cow_json_first;

void cow_json_begin(void)
{
	putchar('{');
	cow_json_first = true;
}

/* The next key: "@key": , its value to follow. */
void cow_json_key(const char *key)
{
	printf("%s\n    \"%s\": ", cow_json_first ? "" : ",", key);
	cow_json_first = false;
}

/* A file name (cow_json_name(): "@key-escaped" too where needed). */
void cow_json_file(const char *key, const char *path)
{
	printf("%s\n    ", cow_json_first ? "" : ",");
	cow_json_first = false;
	cow_json_name(key, path);
}

void cow_json_text(const char *key, const char *s)
{
	cow_json_key(key);
	cow_json_str(s);
}

void cow_json_u64(const char *key, uint64_t v)
{
	cow_json_key(key);
	printf("%llu", (unsigned long long)v);
}

/* A number when @known, else null. */
void cow_json_u64_or_null(const char *key, bool known, uint64_t v)
{
	if (known)
		cow_json_u64(key, v);
	else
		cow_json_null(key);
}

void cow_json_null(const char *key)
{
	cow_json_key(key);
	fputs("null", stdout);
}

void cow_json_bool(const char *key, bool v)
{
	cow_json_key(key);
	fputs(v ? "true" : "false", stdout);
}

void cow_json_end(void)
{
	puts("\n}");
}

volatile sig_atomic_t cow_interrupted;

static void cow_on_signal(int sig)
{
	(void)sig;
	cow_interrupted = 1;
}

/*
 * From now on, SIGINT, SIGTERM and SIGHUP only set cow_interrupted: the
 * tool stops where it can leave its files as it says (a merge that can
 * be completed, a repair not written).
 */
void cow_catch_interrupts(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cow_on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static double cow_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * Progress of long work on stderr: @mode 1 on (-p), 0 off, -1 on only
 * when stderr is a terminal.  On a terminal one line is rewritten (5 per
 * second at most); otherwise a line per second.
 */
void cow_progress_init(struct cow_progress *p, int mode, const char *what,
		       uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	p->on = mode > 0 || (mode < 0 && p->tty);
	p->what = what;
	p->total = total;
	p->start = p->last = cow_now();
}

static void cow_progress_print(struct cow_progress *p, double now, bool end)
{
	double secs = now - p->start;
	char rate[16];

	cow_human((uint64_t)(secs > 0 ? (double)p->done * COW_MAPUNIT / secs
				      : 0), rate, sizeof(rate));
	fprintf(stderr, "%s%s: %s: %llu/%llu blocks (%u%%), %s/s%s",
		p->tty ? "\r" : "", cow_progname, p->what,
		(unsigned long long)p->done, (unsigned long long)p->total,
		p->total ? (unsigned int)(p->done * 100 / p->total) : 100,
		rate, p->tty ? "\033[K" : "\n");
	if (p->tty && end)
		fputc('\n', stderr);
	p->last = now;
}

/* @done blocks of @total done so far. */
void cow_progress_set(struct cow_progress *p, uint64_t done)
{
	double now;

	p->done = done;
	if (!p->on)
		return;
	now = cow_now();
	if (now - p->last >= (p->tty ? 0.2 : 1.0))
		cow_progress_print(p, now, false);
}

/* The last figures, on a line of their own. */
void cow_progress_end(struct cow_progress *p)
{
	if (p->on)
		cow_progress_print(p, cow_now(), true);
}
