/* The compiled token scanner of neuron/data/ntu_raw.py: finds the tokens of a `.skeleton`
 * file's bytes, converts the decimal numbers and counts the tokens of each line. It is the twin
 * of ntu_raw._scan_tokens_numpy and returns the same arrays (as bytearrays that ntu_raw wraps
 * with numpy); ntu_raw._Tokens documents them.
 *
 * Only tokens of the form [+-]digits[.digits][(e|E)[+-]digits] (a digit on at least one side
 * of the dot) are converted, to the double float() gives: either exactly (Clinger's fast path:
 * at most 15 digits and a power of ten up to 1e22, both exact doubles, so one correctly rounded
 * multiplication or division) or with strtod (correctly rounded in glibc, musl and macOS).
 * Every other token (not a number, non-finite, underscores, over MAX_STRTOD characters) is left
 * unconverted for Python's float() to judge, so errors are exactly those of the numpy path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COUNT_DIGITS 15 /* counts ("whole" tokens) stay below 1e15: exact in a double */
#define MAX_FAST_DIGITS 15  /* a mantissa below 1e15 < 2**53 is an exact double */
#define MAX_FAST_POWER 22   /* 1e22 is the largest exact power of ten in a double */
#define MAX_STRTOD 63       /* longer tokens (none in real files) are left to float() */

static const double POWERS_OF_TEN[MAX_FAST_POWER + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_blank(unsigned char c) { return c <= ' '; } /* space, CR, LF, tab, controls */
static int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }

/* A decimal as read_decimal finds it: (-1)**negative * mantissa * 10**exponent. */
typedef struct {
    int negative;
    Py_ssize_t digits;       /* digits in all; mantissa wraps past 19 of them, unused then */
    Py_ssize_t whole_digits; /* digits before the dot (or the end) */
    uint64_t mantissa;       /* the digits as one integer */
    Py_ssize_t exponent;
} Decimal;

/* Read the longest decimal [+-]digits[.digits][(e|E)[+-]digits] at the start of [p, end),
 * with a digit on at least one side of the dot; return the byte after it (p if there is none).
 * Works on locals, not *d: stores through d could alias the text, so each would be reloaded. */
static const unsigned char *read_decimal(const unsigned char *p, const unsigned char *end,
                                         Decimal *d)
{
    const unsigned char *start = p;
    int negative = 0;
    Py_ssize_t digits = 0, whole_digits, exponent = 0;
    uint64_t mantissa = 0;
    if (p < end && (*p == '+' || *p == '-'))
        negative = *p++ == '-';
    for (; p < end && is_digit(*p); p++, digits++)
        mantissa = mantissa * 10 + (*p - '0');
    whole_digits = digits;
    if (p < end && *p == '.')
        for (p++; p < end && is_digit(*p); p++, digits++, exponent--)
            mantissa = mantissa * 10 + (*p - '0');
    *d = (Decimal){negative, digits, whole_digits, mantissa, exponent};
    if (digits == 0)
        return start;
    if (p < end && (*p == 'e' || *p == 'E')) { /* an exponent only if it has digits */
        const unsigned char *q = p + 1;
        int exponent_negative = 0;
        Py_ssize_t written = 0;
        if (q < end && (*q == '+' || *q == '-'))
            exponent_negative = *q++ == '-';
        if (q < end && is_digit(*q)) {
            for (; q < end && is_digit(*q); q++)
                if (written < 100000) /* saturate: far outside the fast path either way */
                    written = written * 10 + (*q - '0');
            d->exponent += exponent_negative ? -written : written;
            p = q;
        }
    }
    return p;
}

/* The value of a decimal that spans the whole token s[0:n]: set *value and return 1 if it is
 * finite, else return 0. */
static int decimal_value(const Decimal *d, const unsigned char *s, Py_ssize_t n, double *value)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0 /* double arithmetic is not done wider */
    if (d->digits <= MAX_FAST_DIGITS && -MAX_FAST_POWER <= d->exponent
        && d->exponent <= MAX_FAST_POWER) {
        /* Rounding to nearest is symmetric, so the sign may go first; "-0" gives -0.0. */
        double m = d->negative ? -(double)d->mantissa : (double)d->mantissa;
        *value = d->exponent < 0 ? m / POWERS_OF_TEN[-d->exponent] : m * POWERS_OF_TEN[d->exponent];
        return 1;
    }
#endif
    if (n > MAX_STRTOD)
        return 0;
    char copy[MAX_STRTOD + 1]; /* strtod needs a terminated string */
    char *stop;
    memcpy(copy, s, (size_t)n);
    copy[n] = '\0';
    double result = strtod(copy, &stop);
    /* stop short: a locale whose decimal point is not "."; inf: overflow. float() decides. */
    if (stop != copy + n || !isfinite(result))
        return 0;
    *value = result;
    return 1;
}

/* The output arrays, in the order scan() returns them: K tokens, L lines. */
enum { STARTS, ENDS, VALUES, CONVERTED, WHOLE, LINE_TOKENS, NUM_ARRAYS };
static const Py_ssize_t ITEM_SIZE[NUM_ARRAYS] = {
    sizeof(int64_t), sizeof(int64_t), sizeof(double), 1, 1, sizeof(int64_t)};
typedef struct {
    int64_t *starts, *ends; /* (K,) [start, end) byte range of each token */
    double *values;         /* (K,) value of each converted token, 0 elsewhere */
    char *converted;        /* (K,) 1 where values holds the token's number */
    char *whole;            /* (K,) 1 where the token is 1 to 15 digits only: a valid count */
    int64_t *line_tokens;   /* (L,) tokens on each "\n"-separated line, the last line included */
    Py_ssize_t num_tokens, num_lines;
} Tokens;

/* K and L of text[0:len]: a token starts at each non-blank byte after a blank one. */
static void count_tokens(const unsigned char *text, Py_ssize_t len, Py_ssize_t *tokens,
                         Py_ssize_t *lines)
{
    Py_ssize_t k = len > 0 && !is_blank(text[0]), newlines = len > 0 && text[0] == '\n';
    for (Py_ssize_t i = 1; i < len; i++) { /* branch-free, so the compiler can vectorise it */
        k += is_blank(text[i - 1]) & !is_blank(text[i]);
        newlines += text[i] == '\n';
    }
    *tokens = k;
    *lines = newlines + 1;
}

/* Fill `out` (sized by count_tokens) from text[0:len]; return 0, or -1 if the text holds
 * other counts than out was sized for (it changed since it was counted). Needs no GIL. */
static int scan_text(const unsigned char *text, Py_ssize_t len, Tokens out)
{
    Py_ssize_t i = 0, k = 0, line = 0;
    int64_t on_line = 0;
    for (;;) {
        for (; i < len && is_blank(text[i]); i++)
            if (text[i] == '\n') {
                if (line == out.num_lines)
                    return -1;
                out.line_tokens[line++] = on_line;
                on_line = 0;
            }
        if (i == len)
            break;
        if (k == out.num_tokens)
            return -1;
        Py_ssize_t start = i;
        Decimal d;
        const unsigned char *stop = read_decimal(text + start, text + len, &d);
        for (i = stop - text; i < len && !is_blank(text[i]); i++) /* a token that is no decimal */
            ;
        Py_ssize_t n = i - start;
        out.starts[k] = start;
        out.ends[k] = i;
        out.values[k] = 0.0;
        out.converted[k] =
            (char)(stop == text + i && decimal_value(&d, text + start, n, &out.values[k]));
        out.whole[k] = (char)(d.whole_digits == n && n <= MAX_COUNT_DIGITS);
        k++;
        on_line++;
    }
    if (line != out.num_lines - 1 || k != out.num_tokens)
        return -1;
    out.line_tokens[line] = on_line;
    return 0;
}

/* scan() on a buffer: count, allocate the arrays, fill them without the GIL. */
static PyObject *scan_buffer(const Py_buffer *text)
{
    const unsigned char *bytes = text->buf;
    Tokens out;
    int status;
    Py_BEGIN_ALLOW_THREADS
    count_tokens(bytes, text->len, &out.num_tokens, &out.num_lines);
    Py_END_ALLOW_THREADS
    PyObject *arrays = PyTuple_New(NUM_ARRAYS); /* owns the arrays: one DECREF frees all */
    if (!arrays)
        return NULL;
    for (int a = 0; a < NUM_ARRAYS; a++) { /* counts <= len + 1, so the sizes cannot overflow */
        Py_ssize_t items = a == LINE_TOKENS ? out.num_lines : out.num_tokens;
        PyObject *array = PyByteArray_FromStringAndSize(NULL, items * ITEM_SIZE[a]);
        if (!array) {
            Py_DECREF(arrays);
            return NULL;
        }
        PyTuple_SET_ITEM(arrays, a, array);
    }
#define DATA(a) PyByteArray_AS_STRING(PyTuple_GET_ITEM(arrays, a))
    out.starts = (int64_t *)DATA(STARTS);
    out.ends = (int64_t *)DATA(ENDS);
    out.values = (double *)DATA(VALUES);
    out.converted = DATA(CONVERTED);
    out.whole = DATA(WHOLE);
    out.line_tokens = (int64_t *)DATA(LINE_TOKENS);
#undef DATA
    /* Nothing else holds the new arrays; the text may change (not move) while unlocked. */
    Py_BEGIN_ALLOW_THREADS
    status = scan_text(bytes, text->len, out);
    Py_END_ALLOW_THREADS
    if (status < 0) {
        Py_DECREF(arrays);
        PyErr_SetString(PyExc_RuntimeError, "the text changed while it was being scanned");
        return NULL;
    }
    return arrays;
}

static PyObject *scan(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer text;
    if (PyObject_GetBuffer(arg, &text, PyBUF_SIMPLE) < 0)
        return NULL;
    if (text.len > PY_SSIZE_T_MAX / 8 - 1) { /* keeps 8 * (len + 1) in range */
        PyBuffer_Release(&text);
        return PyErr_NoMemory();
    }
    PyObject *result = scan_buffer(&text);
    PyBuffer_Release(&text);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_O,
     "scan(text) -> (starts, ends, values, converted, whole, line_tokens)\n\n"
     "The tokens of a .skeleton file's bytes (any contiguous buffer), as bytearrays of int64,\n"
     "int64, float64, bool, bool and int64 items; see neuron.data.ntu_raw._Tokens.\n"
     "The GIL is released while scanning."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef ntu_tokens_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "neuron.data._ntu_tokens",
    .m_doc = "Compiled token scanner for NTU RGB+D .skeleton files (used by neuron.data.ntu_raw).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__ntu_tokens(void) { return PyModule_Create(&ntu_tokens_module); }
