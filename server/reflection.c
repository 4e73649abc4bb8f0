/* reflection.c -- gRPC server reflection from the embedded descriptor set
 *
 * DESIGN. sl_reflection_create() walks the embedded FileDescriptorSet
 * (gen/pbc/servicelogs_descriptor_set.c) twice: once on the wire, to cut
 * each file's FileDescriptorProto bytes out of it exactly as protoc wrote
 * them (they are served as is, without re-encoding, straight from the
 * static array), and once unpacked with protobuf-c, to index
 *   - files by name (the import path, e.g. "google/api/http.proto");
 *   - symbols by fully-qualified name: services, methods (pkg.Svc.Method),
 *     messages and enums at any nesting depth, fields and oneofs
 *     (pkg.Msg.field), extensions (pkg.ext or pkg.Msg.ext) and enum values,
 *     which protobuf scopes beside their enum (modelarts.v1.REAL_TIME), as
 *     protoc's DescriptorPool and grpc-go's registry do. Packages are not
 *     symbols: a package spans files, so "modelarts.v1" is NOT_FOUND;
 *   - extensions by (extendee, number), sorted, so that the numbers of one
 *     type are one contiguous run of an int32 array.
 * For every file it precomputes the answer to a file request: the file's
 * bytes first, then those of every file it imports, transitively, each
 * once (depth-first, in import order). Answering is then a binary search
 * and one pack: the only allocations are protobuf-c's unpack of the
 * request and the response slice.
 *
 * Names. A symbol may be given with or without one leading '.' (the form
 * descriptors use internally, ".google.protobuf.MethodOptions"); the same
 * holds for an extension's containing type and for
 * all_extension_numbers_of_type, whose base_type_name is answered without
 * the dot. File names must match exactly. Names longer than
 * SL_REFL_NAME_MAX bytes are NOT_FOUND without a lookup, and the error
 * message does not repeat them.
 *
 * Answers. Every response echoes the request's host as valid_host and the
 * request itself as original_request. Unknown names get an error_response
 * with NOT_FOUND (5) naming what was not found; a request with no
 * message_request set gets an error_response with INVALID_ARGUMENT (3):
 * the protocol has no answer for it, and ending the stream would also end
 * the client's other, valid requests. Only bytes that are not a
 * ServerReflectionRequest at all fail the call (SL_EINVAL).
 *
 * list_services answers every service in the set, in set order: the set is
 * exactly the protos the server serves (scripts/gen.sh), so it lists
 * modelarts.v1.ServiceLogs, grpc.health.v1.Health and both
 * ServerReflection services.
 *
 * Ownership: everything hangs off struct sl_reflection; strings and arrays
 * live in its arena, the symbol and extension tables are malloc'd, file
 * bytes point into the static sl_descriptor_set. All of it is freed by
 * sl_reflection_destroy(); nothing is written after create.
 */
#include "reflection.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "servicelogs_descriptor_set.h"
#include "wire.h"

#define SL_REFL_NAME_MAX 1024 /* longest symbol or file name looked up */

/* The oneof cases of the request and the response, shortened. */
#define REQ_(x)                                                                \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##x
#define RESP_(x)                                                               \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##x

enum sym_kind {
    SYM_SERVICE,
    SYM_METHOD,
    SYM_MESSAGE,
    SYM_ENUM,
    SYM_ENUM_VALUE,
    SYM_FIELD,
    SYM_ONEOF,
    SYM_EXTENSION,
};

struct refl_file {
    const char *name;             /* import path; in the arena */
    ProtobufCBinaryData self;     /* packed FileDescriptorProto; points
                                     into sl_descriptor_set */
    size_t n_closure;             /* files in closure */
    ProtobufCBinaryData *closure; /* self, then its imports, transitively,
                                     each once; in the arena */
    Google__Protobuf__FileDescriptorProto *fdp; /* only during create */
};

struct refl_sym {
    const char *name;   /* fully qualified, no leading '.'; in the arena */
    size_t file;        /* index in files */
    enum sym_kind kind; /* what the name is */
};

struct refl_ext {
    const char *extendee; /* fully qualified, no leading '.'; in the arena */
    int32_t number;       /* field number of the extension */
    size_t file;          /* index in files: the file declaring it */
};

struct sl_reflection {
    size_t n_files;
    struct refl_file *files;          /* in set order; in the arena */
    const struct refl_file **by_name; /* files sorted by name; arena */
    size_t n_syms, cap_syms;
    struct refl_sym *syms; /* sorted by name; malloc'd */
    size_t n_exts, cap_exts;
    struct refl_ext *exts; /* sorted by (extendee, number); malloc'd */
    int32_t *ext_numbers;  /* exts[i].number, same order; in the arena */
    size_t n_services;
    Grpc__Reflection__V1__ServiceResponse **services; /* list_services
                                                         answer; arena */
    struct sl_arena arena; /* backing memory of the above */
};

/* ---- building the index ------------------------------------------------ */

/* Cuts the set's field-1 entries (one FileDescriptorProto each) out of the
 * wire bytes, in order, into files[0..n). SL_OK, or SL_EINTERNAL when the
 * set holds anything else or a count other than n. */
static int split_set(const uint8_t *p, size_t len, struct refl_file *files,
                     size_t n, struct sl_err *err)
{
    const uint8_t *end = p + len;
    size_t i = 0;
    while (p < end) {
        struct sl_wire_field f;
        if (sl_wire_next(&p, end, &f) < 0 || f.number != 1 || f.type != 2 ||
            i == n)
            return sl_err_set(err, SL_EINTERNAL,
                              "embedded descriptor set: unexpected field "
                              "or file count");
        files[i].self.data = (uint8_t *)f.data;
        files[i].self.len = f.len;
        i++;
    }
    if (i != n)
        return sl_err_set(err, SL_EINTERNAL,
                          "embedded descriptor set: %zu files on the wire, "
                          "%zu unpacked",
                          i, n);
    return SL_OK;
}

/* "prefix.name" (or "name" when prefix is empty) in the arena. */
static const char *qualify(struct sl_reflection *r, const char *prefix,
                           const char *name)
{
    size_t pl = strlen(prefix), nl = strlen(name);
    char *s = sl_arena_alloc(&r->arena, pl + 1 + nl + 1);
    if (!s)
        return NULL;
    char *p = s;
    if (pl) {
        memcpy(p, prefix, pl);
        p += pl;
        *p++ = '.';
    }
    memcpy(p, name, nl + 1);
    return s;
}

/* Descriptor references are fully qualified with a leading '.'. */
static const char *strip_dot(const char *s)
{
    return s[0] == '.' ? s + 1 : s;
}

/* Adds prefix.name as a symbol of kind; sets *fq to the full name when
 * fq is not NULL. SL_OK, SL_ENOMEM, or SL_EINTERNAL for a nameless
 * descriptor. */
static int add_sym(struct sl_reflection *r, size_t file, const char *prefix,
                   const char *name, enum sym_kind kind, const char **fq,
                   struct sl_err *err)
{
    if (!name || !*name)
        return sl_err_set(err, SL_EINTERNAL,
                          "embedded descriptor set: nameless descriptor in "
                          "%s",
                          r->files[file].name);
    if (r->n_syms == r->cap_syms) {
        size_t cap = r->cap_syms ? 2 * r->cap_syms : 256;
        struct refl_sym *s = realloc(r->syms, cap * sizeof(*s));
        if (!s)
            return sl_err_set(err, SL_ENOMEM, "reflection index");
        r->syms = s;
        r->cap_syms = cap;
    }
    const char *q = qualify(r, prefix, name);
    if (!q)
        return sl_err_set(err, SL_ENOMEM, "reflection index");
    r->syms[r->n_syms++] = (struct refl_sym){q, file, kind};
    if (fq)
        *fq = q;
    return SL_OK;
}

/* Indexes an extension field both as a symbol and by (extendee, number). */
static int add_ext(struct sl_reflection *r, size_t file, const char *prefix,
                   const Google__Protobuf__FieldDescriptorProto *f,
                   struct sl_err *err)
{
    int rc = add_sym(r, file, prefix, f->name, SYM_EXTENSION, NULL, err);
    if (rc != SL_OK)
        return rc;
    if (!f->extendee || !f->has_number)
        return sl_err_set(err, SL_EINTERNAL,
                          "embedded descriptor set: extension %s without "
                          "extendee or number",
                          f->name);
    if (r->n_exts == r->cap_exts) {
        size_t cap = r->cap_exts ? 2 * r->cap_exts : 16;
        struct refl_ext *e = realloc(r->exts, cap * sizeof(*e));
        if (!e)
            return sl_err_set(err, SL_ENOMEM, "reflection index");
        r->exts = e;
        r->cap_exts = cap;
    }
    const char *t = sl_arena_strndup(&r->arena, strip_dot(f->extendee),
                                     strlen(strip_dot(f->extendee)));
    if (!t)
        return sl_err_set(err, SL_ENOMEM, "reflection index");
    r->exts[r->n_exts++] = (struct refl_ext){t, f->number, file};
    return SL_OK;
}

/* An enum and its values; values are scoped beside the enum (in prefix). */
static int index_enum(struct sl_reflection *r, size_t file, const char *prefix,
                      const Google__Protobuf__EnumDescriptorProto *e,
                      struct sl_err *err)
{
    int rc = add_sym(r, file, prefix, e->name, SYM_ENUM, NULL, err);
    for (size_t i = 0; rc == SL_OK && i < e->n_value; i++)
        rc = add_sym(r, file, prefix, e->value[i]->name, SYM_ENUM_VALUE, NULL,
                     err);
    return rc;
}

/* A message and everything declared inside it, recursively. */
static int index_message(struct sl_reflection *r, size_t file,
                         const char *prefix,
                         const Google__Protobuf__DescriptorProto *m,
                         struct sl_err *err)
{
    const char *fq;
    int rc = add_sym(r, file, prefix, m->name, SYM_MESSAGE, &fq, err);
    for (size_t i = 0; rc == SL_OK && i < m->n_field; i++)
        rc = add_sym(r, file, fq, m->field[i]->name, SYM_FIELD, NULL, err);
    for (size_t i = 0; rc == SL_OK && i < m->n_oneof_decl; i++)
        rc = add_sym(r, file, fq, m->oneof_decl[i]->name, SYM_ONEOF, NULL, err);
    for (size_t i = 0; rc == SL_OK && i < m->n_extension; i++)
        rc = add_ext(r, file, fq, m->extension[i], err);
    for (size_t i = 0; rc == SL_OK && i < m->n_enum_type; i++)
        rc = index_enum(r, file, fq, m->enum_type[i], err);
    for (size_t i = 0; rc == SL_OK && i < m->n_nested_type; i++)
        rc = index_message(r, file, fq, m->nested_type[i], err);
    return rc;
}

static int index_file(struct sl_reflection *r, size_t file, struct sl_err *err)
{
    const Google__Protobuf__FileDescriptorProto *f = r->files[file].fdp;
    const char *pkg = f->package ? f->package : "";
    int rc = SL_OK;
    for (size_t i = 0; rc == SL_OK && i < f->n_message_type; i++)
        rc = index_message(r, file, pkg, f->message_type[i], err);
    for (size_t i = 0; rc == SL_OK && i < f->n_enum_type; i++)
        rc = index_enum(r, file, pkg, f->enum_type[i], err);
    for (size_t i = 0; rc == SL_OK && i < f->n_extension; i++)
        rc = add_ext(r, file, pkg, f->extension[i], err);
    for (size_t i = 0; rc == SL_OK && i < f->n_service; i++) {
        const Google__Protobuf__ServiceDescriptorProto *s = f->service[i];
        const char *fq;
        rc = add_sym(r, file, pkg, s->name, SYM_SERVICE, &fq, err);
        for (size_t j = 0; rc == SL_OK && j < s->n_method; j++)
            rc =
                add_sym(r, file, fq, s->method[j]->name, SYM_METHOD, NULL, err);
    }
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    const struct refl_file *x = *(const struct refl_file *const *)a;
    const struct refl_file *y = *(const struct refl_file *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_sym(const void *a, const void *b)
{
    return strcmp(((const struct refl_sym *)a)->name,
                  ((const struct refl_sym *)b)->name);
}

static int cmp_ext(const void *a, const void *b)
{
    const struct refl_ext *x = a, *y = b;
    int c = strcmp(x->extendee, y->extendee);
    if (c)
        return c;
    return (x->number > y->number) - (x->number < y->number);
}

static const struct refl_file *find_file(const struct sl_reflection *r,
                                         const char *name)
{
    size_t lo = 0, hi = r->n_files;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, r->by_name[mid]->name);
        if (c == 0)
            return r->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Appends file i's closure to out (depth-first; seen marks files taken). */
static void closure_walk(const struct sl_reflection *r, size_t i,
                         const size_t *dep_index, const size_t *dep_start,
                         unsigned char *seen, struct refl_file *out)
{
    if (seen[i])
        return;
    seen[i] = 1;
    out->closure[out->n_closure++] = r->files[i].self;
    for (size_t d = dep_start[i]; d < dep_start[i + 1]; d++)
        closure_walk(r, dep_index[d], dep_index, dep_start, seen, out);
}

/* Resolves every import to a file index and precomputes each closure. */
static int build_closures(struct sl_reflection *r, struct sl_err *err)
{
    size_t n_deps = 0;
    for (size_t i = 0; i < r->n_files; i++)
        n_deps += r->files[i].fdp->n_dependency;
    size_t *dep_index = malloc((n_deps + 1) * sizeof(*dep_index));
    size_t *dep_start = malloc((r->n_files + 1) * sizeof(*dep_start));
    unsigned char *seen = malloc(r->n_files + 1);
    int rc = SL_OK;
    if (!dep_index || !dep_start || !seen) {
        rc = sl_err_set(err, SL_ENOMEM, "reflection index");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n_files; i++) {
        const Google__Protobuf__FileDescriptorProto *f = r->files[i].fdp;
        dep_start[i] = k;
        for (size_t d = 0; d < f->n_dependency; d++) {
            const struct refl_file *dep = find_file(r, f->dependency[d]);
            if (!dep) {
                rc = sl_err_set(err, SL_EINTERNAL,
                                "embedded descriptor set: %s imports %s, "
                                "which it does not hold",
                                r->files[i].name, f->dependency[d]);
                goto out;
            }
            dep_index[k++] = (size_t)(dep - r->files);
        }
    }
    dep_start[r->n_files] = k;
    for (size_t i = 0; i < r->n_files; i++) {
        struct refl_file *f = &r->files[i];
        f->closure =
            sl_arena_alloc(&r->arena, r->n_files * sizeof(*f->closure));
        if (!f->closure) {
            rc = sl_err_set(err, SL_ENOMEM, "reflection index");
            goto out;
        }
        memset(seen, 0, r->n_files);
        closure_walk(r, i, dep_index, dep_start, seen, f);
    }
out:
    free(dep_index);
    free(dep_start);
    free(seen);
    return rc;
}

/* The list_services answer: every service of the set, in set order. */
static int build_services(struct sl_reflection *r, struct sl_err *err)
{
    for (size_t i = 0; i < r->n_syms; i++)
        r->n_services += r->syms[i].kind == SYM_SERVICE;
    r->services =
        sl_arena_alloc(&r->arena, r->n_services * sizeof(*r->services));
    if (!r->services)
        return sl_err_set(err, SL_ENOMEM, "reflection index");
    size_t k = 0;
    for (size_t i = 0; i < r->n_syms; i++) {
        if (r->syms[i].kind != SYM_SERVICE)
            continue;
        Grpc__Reflection__V1__ServiceResponse *s =
            sl_arena_alloc(&r->arena, sizeof(*s));
        if (!s)
            return sl_err_set(err, SL_ENOMEM, "reflection index");
        grpc__reflection__v1__service_response__init(s);
        s->name = (char *)r->syms[i].name;
        r->services[k++] = s;
    }
    return SL_OK;
}

/* Indexes the unpacked set; r->files[i].fdp are set. */
static int build_index(struct sl_reflection *r, struct sl_err *err)
{
    int rc = SL_OK;
    for (size_t i = 0; rc == SL_OK && i < r->n_files; i++)
        rc = index_file(r, i, err);
    if (rc != SL_OK)
        return rc;
    /* Services in set order before sorting the symbols by name. */
    if ((rc = build_services(r, err)) != SL_OK)
        return rc;
    qsort(r->syms, r->n_syms, sizeof(*r->syms), cmp_sym);
    for (size_t i = 1; i < r->n_syms; i++)
        if (!strcmp(r->syms[i - 1].name, r->syms[i].name))
            return sl_err_set(err, SL_EINTERNAL,
                              "embedded descriptor set: symbol %s declared "
                              "twice",
                              r->syms[i].name);
    if (r->n_exts)
        qsort(r->exts, r->n_exts, sizeof(*r->exts), cmp_ext);
    r->ext_numbers =
        sl_arena_alloc(&r->arena, r->n_exts * sizeof(*r->ext_numbers));
    if (!r->ext_numbers)
        return sl_err_set(err, SL_ENOMEM, "reflection index");
    for (size_t i = 0; i < r->n_exts; i++) {
        if (i && !cmp_ext(&r->exts[i - 1], &r->exts[i]))
            return sl_err_set(err, SL_EINTERNAL,
                              "embedded descriptor set: extension %d of %s "
                              "declared twice",
                              r->exts[i].number, r->exts[i].extendee);
        r->ext_numbers[i] = r->exts[i].number;
    }
    return build_closures(r, err);
}

int sl_reflection_create(struct sl_reflection **out, struct sl_err *err)
{
    *out = NULL;
    Google__Protobuf__FileDescriptorSet *set = NULL;
    struct sl_reflection *r = calloc(1, sizeof(*r));
    int rc = SL_OK;
    if (!r)
        return sl_err_set(err, SL_ENOMEM, "reflection");
    sl_arena_init(&r->arena);

    set = google__protobuf__file_descriptor_set__unpack(
        NULL, sl_descriptor_set_len, sl_descriptor_set);
    if (!set || !set->n_file) {
        rc = sl_err_set(err, SL_EINTERNAL,
                        "embedded descriptor set does not unpack");
        goto out;
    }
    r->n_files = set->n_file;
    r->files = sl_arena_alloc(&r->arena, r->n_files * sizeof(*r->files));
    r->by_name = sl_arena_alloc(&r->arena, r->n_files * sizeof(*r->by_name));
    if (!r->files || !r->by_name) {
        rc = sl_err_set(err, SL_ENOMEM, "reflection index");
        goto out;
    }
    memset(r->files, 0, r->n_files * sizeof(*r->files));
    rc = split_set(sl_descriptor_set, sl_descriptor_set_len, r->files,
                   r->n_files, err);
    if (rc != SL_OK)
        goto out;
    for (size_t i = 0; i < r->n_files; i++) {
        const char *name = set->file[i]->name;
        if (!name || !*name) {
            rc = sl_err_set(err, SL_EINTERNAL,
                            "embedded descriptor set: nameless file");
            goto out;
        }
        r->files[i].fdp = set->file[i];
        r->files[i].name = sl_arena_strndup(&r->arena, name, strlen(name));
        if (!r->files[i].name) {
            rc = sl_err_set(err, SL_ENOMEM, "reflection index");
            goto out;
        }
        r->by_name[i] = &r->files[i];
    }
    qsort(r->by_name, r->n_files, sizeof(*r->by_name), cmp_file);
    for (size_t i = 1; i < r->n_files; i++)
        if (!strcmp(r->by_name[i - 1]->name, r->by_name[i]->name)) {
            rc = sl_err_set(err, SL_EINTERNAL,
                            "embedded descriptor set: file %s twice",
                            r->by_name[i]->name);
            goto out;
        }
    rc = build_index(r, err);
out:
    if (r->files)
        for (size_t i = 0; i < r->n_files; i++)
            r->files[i].fdp = NULL; /* dies with set below */
    if (set)
        google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    if (rc != SL_OK) {
        sl_reflection_destroy(r);
        return rc;
    }
    *out = r;
    return SL_OK;
}

void sl_reflection_destroy(struct sl_reflection *r)
{
    if (!r)
        return;
    free(r->syms);
    free(r->exts);
    sl_arena_free(&r->arena);
    free(r);
}

/* ---- answering --------------------------------------------------------- */

/* The name to look up: NULL when too long (NOT_FOUND without work), else
 * name without one leading '.' when strip is set. */
static const char *lookup_name(const char *name, int strip)
{
    if (strnlen(name, SL_REFL_NAME_MAX + 1) > SL_REFL_NAME_MAX)
        return NULL;
    return strip ? strip_dot(name) : name;
}

static const struct refl_sym *find_sym(const struct sl_reflection *r,
                                       const char *name)
{
    struct refl_sym key = {.name = name};
    return bsearch(&key, r->syms, r->n_syms, sizeof(*r->syms), cmp_sym);
}

/* Index of the first extension of type whose number is >= number. */
static size_t ext_lower_bound(const struct sl_reflection *r, const char *type,
                              int32_t number)
{
    struct refl_ext key = {.extendee = type, .number = number};
    size_t lo = 0, hi = r->n_exts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_ext(&r->exts[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Allocator for the request's unpack that tells ENOMEM from bad bytes. */
struct req_alloc {
    ProtobufCAllocator base;
    int failed; /* set when malloc returned NULL */
};

static void *req_alloc_fn(void *data, size_t n)
{
    void *p = malloc(n);
    if (!p)
        ((struct req_alloc *)data)->failed = 1;
    return p;
}

static void req_free_fn(void *data, void *p)
{
    (void)data;
    free(p);
}

/* What one answer points at; lives on the answering thread's stack. */
struct answer {
    Grpc__Reflection__V1__ServerReflectionResponse resp;
    Grpc__Reflection__V1__FileDescriptorResponse files;
    Grpc__Reflection__V1__ExtensionNumberResponse numbers;
    Grpc__Reflection__V1__ListServiceResponse list;
    Grpc__Reflection__V1__ErrorResponse error;
    char msg[SL_REFL_NAME_MAX + 128]; /* error_message */
};

static void answer_error(struct answer *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void answer_error(struct answer *a, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
    va_end(ap);
    a->error.error_code = sl_err_to_grpc(code);
    a->error.error_message = a->msg;
    a->resp.message_response_case = RESP_(ERROR_RESPONSE);
    a->resp.error_response = &a->error;
}

static void answer_file(struct answer *a, const struct refl_file *f)
{
    a->files.n_file_descriptor_proto = f->n_closure;
    a->files.file_descriptor_proto = f->closure;
    a->resp.message_response_case = RESP_(FILE_DESCRIPTOR_RESPONSE);
    a->resp.file_descriptor_response = &a->files;
}

/* Describes name for an error message without repeating a huge one. */
#define SL__STR(x) #x
#define SL__XSTR(x) SL__STR(x)
#define SHOWN(name)                                                            \
    ((name) ? (name)                                                           \
            : "(name longer than " SL__XSTR(SL_REFL_NAME_MAX) " bytes)")

static void
answer_request(const struct sl_reflection *r,
               const Grpc__Reflection__V1__ServerReflectionRequest *q,
               struct answer *a)
{
    const char *name;
    switch (q->message_request_case) {
    case REQ_(FILE_BY_FILENAME): {
        const struct refl_file *f = NULL;
        if ((name = lookup_name(q->file_by_filename, 0)))
            f = find_file(r, name);
        if (f)
            answer_file(a, f);
        else
            answer_error(a, SL_ENOTFOUND, "file not found: %s", SHOWN(name));
        break;
    }
    case REQ_(FILE_CONTAINING_SYMBOL): {
        const struct refl_sym *s = NULL;
        if ((name = lookup_name(q->file_containing_symbol, 1)))
            s = find_sym(r, name);
        if (s)
            answer_file(a, &r->files[s->file]);
        else
            answer_error(a, SL_ENOTFOUND, "symbol not found: %s", SHOWN(name));
        break;
    }
    case REQ_(FILE_CONTAINING_EXTENSION): {
        const Grpc__Reflection__V1__ExtensionRequest *e =
            q->file_containing_extension;
        size_t i = r->n_exts;
        name = lookup_name(e->containing_type, 1);
        if (name)
            i = ext_lower_bound(r, name, e->extension_number);
        if (i < r->n_exts && !strcmp(r->exts[i].extendee, name) &&
            r->exts[i].number == e->extension_number)
            answer_file(a, &r->files[r->exts[i].file]);
        else
            answer_error(a, SL_ENOTFOUND, "extension not found: %d of %s",
                         (int)e->extension_number, SHOWN(name));
        break;
    }
    case REQ_(ALL_EXTENSION_NUMBERS_OF_TYPE): {
        const struct refl_sym *s = NULL;
        if ((name = lookup_name(q->all_extension_numbers_of_type, 1)))
            s = find_sym(r, name);
        if (!s || s->kind != SYM_MESSAGE) {
            answer_error(a, SL_ENOTFOUND, "message type not found: %s",
                         SHOWN(name));
            break;
        }
        size_t lo = ext_lower_bound(r, name, INT32_MIN), hi = lo;
        while (hi < r->n_exts && !strcmp(r->exts[hi].extendee, name))
            hi++;
        a->numbers.base_type_name = (char *)s->name;
        a->numbers.n_extension_number = hi - lo;
        a->numbers.extension_number = r->ext_numbers + lo;
        a->resp.message_response_case = RESP_(ALL_EXTENSION_NUMBERS_RESPONSE);
        a->resp.all_extension_numbers_response = &a->numbers;
        break;
    }
    case REQ_(LIST_SERVICES):
        /* The field's content is unused ("*" by convention). */
        a->list.n_service = r->n_services;
        a->list.service = r->services;
        a->resp.message_response_case = RESP_(LIST_SERVICES_RESPONSE);
        a->resp.list_services_response = &a->list;
        break;
    default:
        answer_error(a, SL_EINVAL,
                     "ServerReflectionRequest has no message_request set");
        break;
    }
}

/* True when p[0..len) is a well-formed message at the wire level, and so is
 * its field 5 (file_containing_extension, the one nested message).
 * protobuf-c accepts field number 0 and numbers beyond 2^29-1 as unknown
 * fields and writes them back when the request is echoed as
 * original_request, producing a response no decoder can read; the stricter
 * wire walk refuses such requests up front. */
static bool wire_ok(const uint8_t *p, size_t len, bool top)
{
    const uint8_t *end = p + len;
    while (p < end) {
        struct sl_wire_field f;
        if (sl_wire_next(&p, end, &f) < 0)
            return false;
        if (top && f.number == 5 && f.type == 2 &&
            !wire_ok(f.data, f.len, false))
            return false;
    }
    return true;
}

int sl_reflection_answer(const struct sl_reflection *r, const uint8_t *req,
                         size_t len, grpc_slice *resp, struct sl_err *err)
{
    *resp = grpc_empty_slice();
    if (!wire_ok(req, len, true))
        return sl_err_set(err, SL_EINVAL,
                          "request is not a valid "
                          "grpc.reflection.v1.ServerReflectionRequest");
    struct req_alloc al = {{req_alloc_fn, req_free_fn, NULL}, 0};
    al.base.allocator_data = &al;
    Grpc__Reflection__V1__ServerReflectionRequest *q =
        grpc__reflection__v1__server_reflection_request__unpack(&al.base, len,
                                                                req);
    if (!q) {
        if (al.failed)
            return sl_err_set(err, SL_ENOMEM, "reflection request");
        return sl_err_set(err, SL_EINVAL,
                          "request is not a valid "
                          "grpc.reflection.v1.ServerReflectionRequest");
    }

    struct answer a;
    grpc__reflection__v1__server_reflection_response__init(&a.resp);
    grpc__reflection__v1__file_descriptor_response__init(&a.files);
    grpc__reflection__v1__extension_number_response__init(&a.numbers);
    grpc__reflection__v1__list_service_response__init(&a.list);
    grpc__reflection__v1__error_response__init(&a.error);
    a.resp.valid_host = q->host;
    a.resp.original_request = q;
    answer_request(r, q, &a);

    size_t n =
        grpc__reflection__v1__server_reflection_response__get_packed_size(
            &a.resp);
    *resp = grpc_slice_malloc(n);
    grpc__reflection__v1__server_reflection_response__pack(
        &a.resp, GRPC_SLICE_START_PTR(*resp));
    grpc__reflection__v1__server_reflection_request__free_unpacked(q, &al.base);
    return SL_OK;
}
