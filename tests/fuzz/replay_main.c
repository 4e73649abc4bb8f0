/* replay_main.c -- runs a fuzz target once over files, without libFuzzer
 *
 * Linked with one tests/fuzz/fuzz_<name>.c in the normal and ASan builds
 * (tests/CMakeLists.txt), so the committed corpus, crash inputs included
 * once fixed, is a regression test of every ctest run, and the targets
 * keep compiling with gcc too.
 *
 *   replay_fuzz_<name> PATH...   each PATH a file or a directory of files
 *
 * Exit status 0 when every input ran (a violated property aborts), 1 when
 * a path cannot be read or a directory holds no file.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Runs the target on the file at path; 0, or -1 when it cannot be read. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *p = realloc(data, cap);
            if (!p) {
                free(data);
                fclose(f);
                fprintf(stderr, "%s: out of memory\n", path);
                return -1;
            }
            data = p;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(data);
        perror(path);
        return -1;
    }
    /* A copy of exactly len bytes, so ASan sees reads past the input. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        return -1;
    }
    if (len)
        memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir, in name order; the count in *n. */
static int run_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(names, cap * sizeof(*names));
            if (!p) {
                rc = -1;
                goto out;
            }
            names = p;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[count] = malloc(len))) {
            rc = -1;
            goto out;
        }
        snprintf(names[count++], len, "%s/%s", dir, e->d_name);
    }
    if (count)
        qsort(names, count, sizeof(*names), cmp_str);
    for (size_t i = 0; i < count && rc == 0; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            rc = run_file(names[i]);
            (*n)++;
        }
    }
out:
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        size_t before = n;
        if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &n) != 0)
                return 1;
            if (n == before) {
                fprintf(stderr, "%s: no inputs\n", argv[i]);
                return 1;
            }
        } else {
            if (run_file(argv[i]) != 0)
                return 1;
            n++;
        }
    }
    printf("%zu inputs ran\n", n);
    return 0;
}
