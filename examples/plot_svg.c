// plot_svg - line charts of training logs as a standalone SVG file (no plotting library needed).
//
//   build/plot_svg --out loss.svg [--title T] [--x step] [--y loss] [--smooth N]
//                  [--panel TITLE] LABEL=FILE [LABEL=FILE...] [--panel TITLE ...]
//
// Each FILE is a CSV with a header line (t5p train's loss.csv: step,epoch,loss,acc,...); the columns named
// by --x and --y are drawn as one line per FILE, labelled LABEL. --panel starts a new chart; charts are
// laid out side by side, each with its own axes. --smooth N draws the running mean of the last N points
// (raw points faint behind it). Exit status: 0 ok, 1 a file cannot be read or written, 2 bad usage.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *label, *path;
    double *x, *y;
    int n;
} series;

typedef struct {
    const char *title;
    series *s;
    int n;
} panel;

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

// Index of column `name` in the comma-separated header, or -1.
static int column(const char *header, const char *name) {
    int k = 0;
    size_t n = strlen(name);
    for (const char *s = header;; k++) {
        const char *e = strpbrk(s, ",\r\n");
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && !strncmp(s, name, n)) return k;
        if (!e || *e != ',') return -1;
        s = e + 1;
    }
}

static double field(const char *line, int col) {
    const char *s = line;
    for (int k = 0; k < col && s; k++) {
        s = strchr(s, ',');
        if (s) s++;
    }
    if (!s || !*s) return NAN;
    char *end;
    double v = strtod(s, &end);
    return end == s ? NAN : v;
}

static int read_series(series *s, const char *xname, const char *yname) {
    FILE *f = fopen(s->path, "r");
    if (!f) { fprintf(stderr, "plot_svg: cannot read %s: %s\n", s->path, strerror(errno)); return 1; }
    char *line = NULL;
    size_t cap = 0;
    int xc = -1, yc = -1, cap_n = 0;
    if (getline(&line, &cap, f) > 0) xc = column(line, xname), yc = column(line, yname);
    if (xc < 0 || yc < 0) {
        fprintf(stderr, "plot_svg: %s has no column '%s'\n", s->path, xc < 0 ? xname : yname);
        fclose(f);
        free(line);
        return 1;
    }
    while (getline(&line, &cap, f) > 0) {
        double x = field(line, xc), y = field(line, yc);
        if (!isfinite(x) || !isfinite(y)) continue;
        if (s->n == cap_n) {
            cap_n = cap_n ? 2 * cap_n : 256;
            s->x = realloc(s->x, (size_t)cap_n * sizeof(double));
            s->y = realloc(s->y, (size_t)cap_n * sizeof(double));
            if (!s->x || !s->y) { fprintf(stderr, "plot_svg: out of memory\n"); exit(1); }
        }
        s->x[s->n] = x, s->y[s->n] = y, s->n++;
    }
    free(line);
    fclose(f);
    return 0;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `want` ticks over span.
static double tick_step(double span, int want) {
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static void polyline(FILE *f, const series *s, int smooth, double x0, double y0, double w, double h, double xmin,
                     double xmax, double ymin, double ymax, const char *color, double width, double opacity) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-opacity=\"%.2f\" points=\"", color,
            width, opacity);
    double sum = 0;
    for (int i = 0; i < s->n; i++) {
        double y = s->y[i];
        if (smooth > 1) {
            sum += y;
            if (i >= smooth) sum -= s->y[i - smooth];
            y = sum / (i + 1 < smooth ? i + 1 : smooth);
        }
        double px = x0 + (xmax > xmin ? (s->x[i] - xmin) / (xmax - xmin) : 0.5) * w;
        double py = y0 + h - (ymax > ymin ? (y - ymin) / (ymax - ymin) : 0.5) * h;
        if (py < y0) py = y0;
        if (py > y0 + h) py = y0 + h;
        fprintf(f, "%.1f,%.1f ", px, py);
    }
    fputs("\"/>\n", f);
}

static void draw_panel(FILE *f, const panel *p, double ox, double oy, double pw, double ph, const char *xname,
                       const char *yname, int smooth) {
    const double ml = 58, mr = 16, mt = 30, mb = 44;
    double x0 = ox + ml, y0 = oy + mt, w = pw - ml - mr, h = ph - mt - mb;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int k = 0; k < p->n; k++)
        for (int i = 0; i < p->s[k].n; i++) {
            double x = p->s[k].x[i], y = p->s[k].y[i];
            xmin = fmin(xmin, x), xmax = fmax(xmax, x), ymin = fmin(ymin, y), ymax = fmax(ymax, y);
        }
    if (!isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
    if (xmin > 0 && xmin < (xmax - xmin) * 0.2) xmin = 0;
    double ys = tick_step(ymax - ymin > 0 ? ymax - ymin : 1, 5);
    ymin = floor(ymin / ys) * ys, ymax = ceil(ymax / ys) * ys;
    if (ymax <= ymin) ymax = ymin + ys;
    double xs = tick_step(xmax - xmin > 0 ? xmax - xmin : 1, 6);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"#888\"/>\n", x0, y0, w, h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">", x0 + w / 2, oy + 19);
    xml_text(f, p->title ? p->title : "");
    fputs("</text>\n", f);
    for (double t = ceil(ymin / ys) * ys; t <= ymax + ys * 1e-9; t += ys) {
        double py = y0 + h - (t - ymin) / (ymax - ymin) * h;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", x0, py, x0 + w, py);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%g</text>\n", x0 - 5, py + 4, t);
    }
    for (double t = ceil(xmin / xs) * xs; t <= xmax + xs * 1e-9; t += xs) {
        double px = x0 + (xmax > xmin ? (t - xmin) / (xmax - xmin) : 0.5) * w;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", px, y0, px, y0 + h);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%g</text>\n", px, y0 + h + 15, t);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">", x0 + w / 2, y0 + h + 34);
    xml_text(f, xname);
    fputs("</text>\n", f);
    fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">", ox + 16, y0 + h / 2);
    xml_text(f, yname);
    fputs("</text>\n", f);
    for (int k = 0; k < p->n; k++) {
        const char *c = colors[k % 8];
        if (smooth > 1) polyline(f, &p->s[k], 1, x0, y0, w, h, xmin, xmax, ymin, ymax, c, 1.0, 0.25);
        polyline(f, &p->s[k], smooth, x0, y0, w, h, xmin, xmax, ymin, ymax, c, 2.0, 1.0);
        double ly = y0 + 14 + 16 * k;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                x0 + w - 150, ly - 4, x0 + w - 132, ly - 4, c);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", x0 + w - 127, ly);
        xml_text(f, p->s[k].label);
        fputs("</text>\n", f);
    }
}

static const char *help =
    "usage: plot_svg --out FILE.svg [--title T] [--x step] [--y loss] [--smooth N]\n"
    "                [--panel TITLE] LABEL=CSV... [--panel TITLE LABEL=CSV...]\n"
    "Draws columns --y against --x of CSV files (with a header line, as t5p train's loss.csv) as lines,\n"
    "one chart per --panel, side by side. --smooth N: running mean of the last N points.\n";

int main(int argc, char **argv) {
    const char *out = NULL, *title = NULL, *xname = "step", *yname = "loss";
    int smooth = 1, np = 0;
    panel *ps = calloc((size_t)argc + 1, sizeof(panel));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(help, stdout); return 0; }
        int takes = !strcmp(a, "--out") || !strcmp(a, "--title") || !strcmp(a, "--x") || !strcmp(a, "--y") ||
                    !strcmp(a, "--smooth") || !strcmp(a, "--panel");
        if (takes && i + 1 >= argc) { fprintf(stderr, "plot_svg: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--title")) title = argv[++i];
        else if (!strcmp(a, "--x")) xname = argv[++i];
        else if (!strcmp(a, "--y")) yname = argv[++i];
        else if (!strcmp(a, "--smooth")) smooth = atoi(argv[++i]);
        else if (!strcmp(a, "--panel")) ps[np++].title = argv[++i];
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "plot_svg: unknown option '%s' (see --help)\n", a); return 2; }
        else {
            const char *eq = strchr(a, '=');
            if (!eq) { fprintf(stderr, "plot_svg: expected LABEL=CSV, got '%s'\n", a); return 2; }
            if (np == 0) np = 1;
            panel *p = &ps[np - 1];
            p->s = realloc(p->s, (size_t)(p->n + 1) * sizeof(series));
            series *s = &p->s[p->n++];
            memset(s, 0, sizeof *s);
            s->label = strndup(a, (size_t)(eq - a));
            s->path = eq + 1;
            if (read_series(s, xname, yname)) return 1;
        }
    }
    if (!out || np == 0) { fprintf(stderr, "plot_svg: --out and at least one LABEL=CSV are required (see --help)\n"); return 2; }
    const double pw = 460, ph = 320, top = title ? 30 : 0;
    double W = pw * np, H = ph + top;
    FILE *f = fopen(out, "w");
    if (!f) { fprintf(stderr, "plot_svg: cannot write %s: %s\n", out, strerror(errno)); return 1; }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fafafa\"/>\n", W, H, W, H);
    if (title) {
        fprintf(f, "<text x=\"%.1f\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">", W / 2);
        xml_text(f, title);
        fputs("</text>\n", f);
    }
    for (int k = 0; k < np; k++) draw_panel(f, &ps[k], pw * k, top, pw, ph, xname, yname, smooth);
    fputs("</svg>\n", f);
    if (fclose(f) != 0) { fprintf(stderr, "plot_svg: writing %s failed\n", out); return 1; }
    return 0;
}
