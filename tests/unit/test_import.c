/* test_import.c -- the import document parser and sl_import_file
 *
 * Bad documents are one table (bad_docs) with the exact message each must
 * produce; generated ones (over a limit) follow. Good documents are
 * unpacked with protobuf-c to check every field.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_test.h"

#include "import.h"
#include "limits.h"
#include "modelarts/v1/service_logs.pb-c.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The cases write ' for ", so they stay readable; dq() swaps them back. */
static char *dq(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

#define DOC(svcs) "{'services':[" svcs "]}"
#define SVC(type, logs)                                                        \
    "{'project_id':'p1','service_id':'s1','service_name':'n',"                 \
    "'infer_type':'" type "','logs':[" logs "]}"
#define RT(logs) DOC(SVC("real-time", logs))
#define EDGE(logs) DOC(SVC("edge", logs))
#define BATCH(logs) DOC(SVC("batch", logs))
#define LOG(cfgs, extra)                                                       \
    "{'update_time':1,'result':'SUCCESS','config':[" cfgs "]" extra "}"
#define TIME(t) "{'update_time':" t ",'result':'SUCCESS','config':[]}"
#define CFG(extra)                                                             \
    "{'model_id':'m','model_name':'mn','model_version':'1'" extra "}"
#define NODE(extra) "{'node_id':'n1','node_name':'node-1'" extra "}"
#define L0 "services[0].logs[0]"
#define C0 L0 ".config[0]"

struct bad_doc {
    const char *json; /* ' for " */
    const char *msg;  /* exact; or, starting with '~', a substring */
};

static const struct bad_doc bad_docs[] = {
    /* Not JSON, or JSON that is not the document. */
    {"", "invalid JSON at line 1 column 0: '[' or '{' expected near end of "
         "file"},
    {"{'services':[],}", "~invalid JSON at line 1 column 16: "},
    {"{'services':[],'services':[]}",
     "invalid JSON at line 1 column 25: duplicate object key near "
     "'\"services\"'"},
    {"{'services':[{'project_id':'p\\u0000'}]}",
     "~\\u0000 is not allowed without JSON_ALLOW_NUL"},
    {"{'services':[{'project_id':'\xff'}]}",
     "invalid JSON at line 1 column 28: unable to decode byte 0xff near "
     "'\"'"},
    {"{'a':99999999999999999999}", "~too big integer"},
    {"[]", "$: expected an object"},
    {"{}", "$: missing required field services"},
    {"{'services':[],'extra':1}", "$: unknown field \"extra\""},
    {"{'services':{}}", "services: expected an array"},
    {"{'services':[1]}", "services[0]: expected an object"},

    /* Services. */
    {DOC("{'project_id':'p1','service_id':'s1','infer_type':'edge',"
         "'logs':[]}"),
     "services[0]: missing required field service_name"},
    {DOC("{'service_id':'s1','service_name':'n','infer_type':'edge',"
         "'logs':[]}"),
     "services[0]: missing required field project_id"},
    {DOC("{'project_id':'p1','service_id':'s1','service_name':'n',"
         "'infer_type':'edge'}"),
     "services[0]: missing required field logs"},
    {DOC("{'project_id':'p 1','service_id':'s1','service_name':'n',"
         "'infer_type':'edge','logs':[]}"),
     "services[0].project_id: expected 1-64 characters of [A-Za-z0-9_-]"},
    {DOC("{'project_id':'p1','service_id':'','service_name':'n',"
         "'infer_type':'edge','logs':[]}"),
     "services[0].service_id: expected 1-64 characters of [A-Za-z0-9_-]"},
    {DOC("{'project_id':'p1','service_id':7,'service_name':'n',"
         "'infer_type':'edge','logs':[]}"),
     "services[0].service_id: expected a string"},
    {DOC("{'project_id':'p1','service_id':'s1','service_name':'',"
         "'infer_type':'edge','logs':[]}"),
     "services[0].service_name: must not be empty"},
    {DOC("{'project_id':'p1','service_id':'s1','service_name':'n',"
         "'infer_type':'online','logs':[]}"),
     "services[0].infer_type: expected real-time, edge or batch"},
    {DOC("{'project_id':'p1','service_id':'s1','service_name':'n',"
         "'infer_type':1,'logs':[]}"),
     "services[0].infer_type: expected real-time, edge or batch"},
    {DOC("{'project_id':'p1','service_id':'s1','service_name':'n',"
         "'infer_type':'REAL_TIME','logs':[]}"),
     "services[0].infer_type: expected real-time, edge or batch"},
    {DOC("{'project_id':'p1','service_id':'s1','serviceName':'n',"
         "'infer_type':'edge','logs':[]}"),
     "services[0]: unknown field \"serviceName\""},
    {DOC("{'project_id':'p1','service_id':'s1','service_name':'n',"
         "'infer_type':'edge','logs':{}}"),
     "services[0].logs: expected an array"},
    {DOC(SVC("edge", "") "," SVC("edge", "") "," SVC("edge", "")),
     "services[1].service_id: duplicate of services[0]"},
    {DOC(SVC("edge", "") ",{'project_id':'p2','service_id':'s1',"
                         "'service_name':'n','infer_type':'edge','logs':[]},"
                         "{'project_id':'p2','service_id':'s1',"
                         "'service_name':'x','infer_type':'batch','logs':[]}"),
     "services[2].service_id: duplicate of services[1]"},

    /* Logs. */
    {RT("1"), L0 ": expected an object"},
    {RT("{'udpate_time':1,'result':'SUCCESS','config':[]}"),
     L0 ": unknown field \"udpate_time\""},
    {RT("{'result':'SUCCESS','config':[]}"),
     L0 ": missing required field update_time"},
    {RT("{'update_time':1,'config':[]}"), L0 ": missing required field result"},
    {RT("{'update_time':1,'result':'SUCCESS'}"),
     L0 ": missing required field config"},
    {RT("{'update_time':1,'result':'OK','config':[]}"),
     L0 ".result: expected SUCCESS, FAIL or RUNNING"},
    {RT("{'update_time':1,'result':'success','config':[]}"),
     L0 ".result: expected SUCCESS, FAIL or RUNNING"},
    {DOC(SVC("edge", TIME("1")) "," SVC("edge", TIME("1") ",{'update_time':"
                                                          "2,'result':null,"
                                                          "'config':[]}")),
     "services[1].logs[1].result: expected SUCCESS, FAIL or RUNNING"},
    {RT("{'update_time':1,'result':'FAIL','config':{}}"),
     L0 ".config: expected an array"},
    {RT(TIME("1.5")),
     L0 ".update_time: expected an integer (no fraction or exponent)"},
    {RT(TIME("1e3")),
     L0 ".update_time: expected an integer (no fraction or exponent)"},
    {RT(TIME("-1")), L0 ".update_time: out of range (0 to "
                        "9223372036854775807)"},
    {RT(TIME("'9223372036854775808'")),
     L0 ".update_time: out of range (0 to 9223372036854775807)"},
    {RT(TIME("'12a'")), L0 ".update_time: expected a string of decimal digits"},
    {RT(TIME("''")), L0 ".update_time: expected a string of decimal digits"},
    {RT(TIME("' 1'")), L0 ".update_time: expected a string of decimal digits"},
    {RT(TIME("'1 '")), L0 ".update_time: expected a string of decimal digits"},
    {RT(TIME("'+1'")), L0 ".update_time: expected a string of decimal digits"},
    {RT(TIME("'-1'")), L0 ".update_time: expected a string of decimal digits"},
    {RT(TIME("'1e3'")), L0 ".update_time: expected a string of decimal digits"},
    {RT(TIME("'1.0'")), L0 ".update_time: expected a string of decimal digits"},
    {RT(TIME("true")),
     L0 ".update_time: expected an integer (a number or a string of digits)"},
    {RT(TIME("null")),
     L0 ".update_time: expected an integer (a number or a string of digits)"},

    /* Fields of the wrong infer_type. */
    {RT(LOG("", ",'success_num':1")),
     L0 ".success_num: only allowed for edge services (this service is "
        "real-time)"},
    {BATCH(LOG("", ",'failed_num':0")),
     L0 ".failed_num: only allowed for edge services (this service is "
        "batch)"},
    {RT(LOG("", ",'result_detail':[]")),
     L0 ".result_detail: only allowed for edge services (this service is "
        "real-time)"},
    {EDGE(LOG(CFG(",'weight':10"), "")),
     C0 ".weight: only allowed for real-time services (this service is "
        "edge)"},
    {BATCH(LOG(CFG(",'instance_count':1"), "")),
     C0 ".instance_count: only allowed for real-time services (this service "
        "is batch)"},

    /* Config. */
    {RT(LOG("[]", "")), C0 ": expected an object"},
    {RT(LOG("{'model_name':'mn','model_version':'1'}", "")),
     C0 ": missing required field model_id"},
    {RT(LOG("{'model_id':'m','model_version':'1'}", "")),
     C0 ": missing required field model_name"},
    {RT(LOG("{'model_id':'m','model_name':'mn'}", "")),
     C0 ": missing required field model_version"},
    {RT(LOG("{'model_id':'','model_name':'mn','model_version':'1'}", "")),
     C0 ".model_id: must not be empty"},
    {RT(LOG("{'model_id':1,'model_name':'mn','model_version':'1'}", "")),
     C0 ".model_id: expected a string"},
    {RT(LOG(CFG(",'modelId':'x'"), "")), C0 ": unknown field \"modelId\""},
    {RT(LOG(CFG(",'specification':5"), "")),
     C0 ".specification: expected a string"},
    {RT(LOG(CFG(",'weight':101"), "")), C0 ".weight: out of range (0 to 100)"},
    {RT(LOG(CFG(",'weight':-1"), "")), C0 ".weight: out of range (0 to 100)"},
    {RT(LOG(CFG(",'weight':'101'"), "")),
     C0 ".weight: out of range (0 to 100)"},
    {RT(LOG(CFG(",'weight':70.5"), "")),
     C0 ".weight: expected an integer (no fraction or exponent)"},
    {RT(LOG(CFG(",'instance_count':2147483648"), "")),
     C0 ".instance_count: out of range (0 to 2147483647)"},
    {RT(LOG(CFG(",'envs':[]"), "")), C0 ".envs: expected an object"},
    {RT(LOG(CFG(",'envs':{'FOO':1}"), "")), C0 ".envs.FOO: expected a string"},
    {RT(LOG(CFG(",'envs':{'OK':'1','a.b':null}"), "")),
     C0 ".envs[\"a.b\"]: expected a string"},
    {RT(LOG(CFG(",'envs':{'say \\'hi\\'':true}"), "")),
     C0 ".envs[\"say \\\"hi\\\"\"]: expected a string"},
    {RT(LOG(CFG(",'envs':{'':'x'}"), "")),
     C0 ".envs[\"\"]: empty variable name"},
    {RT(LOG(CFG("") "," CFG(",'envs':{'X':{}}"), "")),
     L0 ".config[1].envs.X: expected a string"},

    /* Edge nodes. */
    {EDGE(LOG("", ",'success_num':2147483648")),
     L0 ".success_num: out of range (0 to 2147483647)"},
    {EDGE(LOG("", ",'failed_num':'-1'")),
     L0 ".failed_num: expected a string of decimal digits"},
    {EDGE(LOG("", ",'result_detail':{}")),
     L0 ".result_detail: expected an array"},
    {EDGE(LOG("", ",'result_detail':['n1']")),
     L0 ".result_detail[0]: expected an object"},
    {EDGE(LOG("", ",'result_detail':[{'node_id':'n1','operation':'deploy',"
                  "'result':true}]")),
     L0 ".result_detail[0]: missing required field node_name"},
    {EDGE(LOG("", ",'result_detail':[" NODE(",'result':true") "]")),
     L0 ".result_detail[0]: missing required field operation"},
    {EDGE(LOG("", ",'result_detail':[" NODE(",'operation':'delete'") "]")),
     L0 ".result_detail[0]: missing required field result"},
    {EDGE(LOG("", ",'result_detail':[" NODE(",'operation':'create',"
                                            "'result':true") "]")),
     L0 ".result_detail[0].operation: expected deploy or delete"},
    {EDGE(LOG("", ",'result_detail':[" NODE(",'operation':'deploy',"
                                            "'result':'true'") "]")),
     L0 ".result_detail[0].result: expected true or false"},
    {EDGE(LOG("", ",'result_detail':[" NODE(",'operation':'deploy',"
                                            "'result':1,'ip':'x'") "]")),
     L0 ".result_detail[0]: unknown field \"ip\""},

    /* The live platform's fields: JSON types here, bounds by the log rules
     * (log_rules.c), which the writers share. */
    {RT(LOG("", ",'cluster_id':5")), L0 ".cluster_id: expected a string"},
    {RT(LOG("", ",'clusterId':'c'")), L0 ": unknown field \"clusterId\""},
    {RT(LOG("", ",'extend_config':'x'")),
     L0 ".extend_config: expected an array"},
    {RT(LOG("", ",'extend_config':['a',1]")),
     L0 ".extend_config[1]: expected a string"},
    {RT(LOG("", ",'extend_config':['a','']")),
     L0 ".extend_config[1]: must not be empty"},
    {RT(LOG(CFG(",'cluster_id':['c']"), "")),
     C0 ".cluster_id: expected a string"},
    {RT(LOG(CFG(",'custom_spec':[]"), "")),
     C0 ".custom_spec: expected an object"},
    {RT(LOG(CFG(",'custom_spec':{'gpu':1}"), "")),
     C0 ".custom_spec: unknown field \"gpu\""},
    {RT(LOG(CFG(",'custom_spec':{'gpu_p4':'1'}"), "")),
     C0 ".custom_spec.gpu_p4: expected a number"},
    {RT(LOG(CFG(",'custom_spec':{'cpu':true}"), "")),
     C0 ".custom_spec.cpu: expected a number"},
    {RT(LOG(CFG(",'custom_spec':{'gpu_p4':-0.5}"), "")),
     C0 ".custom_spec.gpu_p4: must be a finite number, not negative"},
    {RT(LOG(CFG(",'custom_spec':{'cpu':1e39}"), "")), /* over FLT_MAX */
     C0 ".custom_spec.cpu: must be a finite number, not negative"},
    {RT(LOG(CFG(",'custom_spec':{'memory':1.5}"), "")),
     C0 ".custom_spec.memory: expected an integer (no fraction or exponent)"},
    {RT(LOG(CFG(",'custom_spec':{'memory':-1}"), "")),
     C0 ".custom_spec.memory: out of range (0 to 2147483647)"},
    {RT(LOG(CFG(",'custom_spec':{'ascend_a310':2147483648}"), "")),
     C0 ".custom_spec.ascend_a310: out of range (0 to 2147483647)"},
    {EDGE(LOG(CFG(",'custom_spec':{'cpu':1,'ram':2}"), "")),
     C0 ".custom_spec: unknown field \"ram\""},
};

static void expect_bad(const char *json, const char *msg)
{
    struct sl_import_set set;
    struct sl_err err;
    int rc = sl_import_parse(json, strlen(json), &set, &err);
    if (rc != SL_EFORMAT)
        fail_msg("%s\nwant EFORMAT \"%s\", got %s: %s", json, msg,
                 sl_err_name(rc), err.msg);
    if (msg[0] == '~' ? !strstr(err.msg, msg + 1) : strcmp(err.msg, msg) != 0)
        fail_msg("%s\nwant: %s\ngot:  %s", json, msg, err.msg);
    assert_int_equal(set.n_services, 0);
    assert_null(set.services);
    sl_import_set_free(&set);
}

static void test_bad_docs(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(bad_docs); i++) {
        char *json = dq(bad_docs[i].json);
        expect_bad(json, bad_docs[i].msg);
        free(json);
    }
}

/* Documents over a limit, built here. */
/* fmt and fill write ' for ", like bad_docs. */
static char *format_doc(const char *fmt, const char *fill)
{
    char *raw = NULL;
    assert_true(asprintf(&raw, fmt, fill) > 0);
    char *json = dq(raw);
    free(raw);
    return json;
}

static void expect_bad_fmt(const char *msg, const char *fmt, const char *fill)
{
    char *json = format_doc(fmt, fill);
    expect_bad(json, msg);
    free(json);
}

static char *repeat(const char *s, size_t n)
{
    size_t len = strlen(s);
    char *r = malloc(len * n + 1);
    assert_non_null(r);
    for (size_t i = 0; i < n; i++)
        memcpy(r + i * len, s, len);
    r[len * n] = '\0';
    return r;
}

/* {'E0':'v', ...} with n members. */
static char *envs_object(int n)
{
    char *envs = malloc((size_t)n * 16 + 2);
    assert_non_null(envs);
    strcpy(envs, "{");
    for (int i = 0; i < n; i++)
        sprintf(envs + strlen(envs), "%s'E%d':'v'", i ? "," : "", i);
    strcat(envs, "}");
    return envs;
}

static void test_limits(void **state)
{
    (void)state;
    char *s = repeat("x", SL_MAX_ID + 1);
    expect_bad_fmt("services[0].project_id: expected 1-64 characters of "
                   "[A-Za-z0-9_-]",
                   DOC("{'project_id':'%s','service_id':'s',"
                       "'service_name':'n','infer_type':'edge','logs':[]}"),
                   s);
    expect_bad_fmt(C0 ".model_id: longer than 64 bytes",
                   RT(LOG("{'model_id':'%s','model_name':'m',"
                          "'model_version':'1'}",
                          "")),
                   s);
    expect_bad_fmt(C0 ".model_version: longer than 64 bytes",
                   RT(LOG("{'model_id':'m','model_name':'m',"
                          "'model_version':'%s'}",
                          "")),
                   s);
    expect_bad_fmt(L0 ".result_detail[0].node_id: longer than 64 bytes",
                   EDGE(LOG("", ",'result_detail':[{'node_id':'%s',"
                                "'node_name':'n','operation':'deploy',"
                                "'result':true}]")),
                   s);
    free(s);
    /* Multi-byte characters count as bytes. */
    s = repeat("\xc3\xa9", SL_MAX_NAME / 2 + 1);
    expect_bad_fmt("services[0].service_name: longer than 128 bytes",
                   DOC("{'project_id':'p','service_id':'s',"
                       "'service_name':'%s','infer_type':'edge','logs':[]}"),
                   s);
    expect_bad_fmt(C0 ".specification: longer than 128 bytes",
                   RT(LOG(CFG(",'specification':'%s'"), "")), s);
    free(s);
    s = repeat("k", SL_MAX_ENV_KEY + 1);
    expect_bad_fmt("~.envs[\"kkkkkkkk", RT(LOG(CFG(",'envs':{'%s':'v'}"), "")),
                   s);
    expect_bad_fmt("~\"]: variable name longer than 128 bytes",
                   RT(LOG(CFG(",'envs':{'%s':'v'}"), "")), s);
    free(s);
    s = repeat("v", SL_MAX_ENV_VALUE + 1);
    expect_bad_fmt(C0 ".envs.K: longer than 1024 bytes",
                   RT(LOG(CFG(",'envs':{'K':'%s'}"), "")), s);
    free(s);

    char *envs = envs_object(SL_MAX_ENVS + 1);
    expect_bad_fmt(C0 ".envs: too many entries (17, at most 16)",
                   RT(LOG(CFG(",'envs':%s"), "")), envs);
    free(envs);
    envs = envs_object(SL_MAX_ENVS); /* at the limit: fine */
    char *json = format_doc(RT(LOG(CFG(",'envs':%s"), "")), envs);
    struct sl_import_set set;
    struct sl_err err;
    assert_sl_ok(sl_import_parse(json, strlen(json), &set, &err), &err);
    sl_import_set_free(&set);
    free(json);
    free(envs);

    s = repeat(",{'model_id':'m','model_name':'m','model_version':'1'}",
               SL_MAX_CONFIGS);
    expect_bad_fmt(L0 ".config: too many entries (9, at most 8)",
                   RT(LOG(CFG("") "%s", "")), s);
    free(s);
    s = repeat("c", SL_MAX_CLUSTER_ID + 1);
    expect_bad_fmt(L0 ".cluster_id: longer than 64 bytes",
                   RT(LOG("", ",'cluster_id':'%s'")), s);
    expect_bad_fmt(C0 ".cluster_id: longer than 64 bytes",
                   RT(LOG(CFG(",'cluster_id':'%s'"), "")), s);
    s[SL_MAX_CLUSTER_ID] = '\0'; /* at the limit: fine */
    json = format_doc(RT(LOG(CFG(",'cluster_id':'%s'"), "")), s);
    assert_sl_ok(sl_import_parse(json, strlen(json), &set, &err), &err);
    sl_import_set_free(&set);
    free(json);
    free(s);
    s = repeat("e", SL_MAX_EXTEND_LEN + 1);
    expect_bad_fmt(L0 ".extend_config[2]: longer than 256 bytes",
                   RT(LOG("", ",'extend_config':['a','b','%s']")), s);
    free(s);
    s = repeat(",'x'", SL_MAX_EXTEND);
    expect_bad_fmt(L0 ".extend_config: too many entries (9, at most 8)",
                   RT(LOG("", ",'extend_config':['x'%s]")), s);
    free(s);
    s = repeat(",{'node_id':'n','node_name':'n','operation':'deploy',"
               "'result':false}",
               SL_MAX_NODES);
    expect_bad_fmt(
        L0 ".result_detail: too many entries (65, at most 64)",
        EDGE(LOG("", ",'result_detail':[" NODE(
                         ",'operation':'delete','result':true") "%s]")),
        s);
    free(s);
}

/* ---- good documents ----------------------------------------------------- */

static void parse_ok(const char *quoted, struct sl_import_set *set)
{
    char *json = dq(quoted);
    struct sl_err err;
    assert_sl_ok(sl_import_parse(json, strlen(json), set, &err), &err);
    free(json);
}

static Modelarts__V1__ServiceLog *unpack(const struct sl_import_log *l)
{
    Modelarts__V1__ServiceLog *m =
        modelarts__v1__service_log__unpack(NULL, l->body.len, l->body.data);
    assert_non_null(m);
    assert_int_equal(m->update_time, l->update_time);
    return m;
}

static void test_spec_example(void **state)
{
    (void)state;
    struct sl_import_set set;
    /* The spec's example, quoted numbers and all. */
    parse_ok(DOC("{'project_id':'demo-project','service_id':'xxxx',"
                 "'service_name':'mnist','infer_type':'real-time','logs':["
                 "{'update_time':'123432423','result':'SUCCESS','config':["
                 "{'model_id':'xxxx','model_name':'mnist',"
                 "'model_version':'1.0.1','weight':'70',"
                 "'specification':'modelarts.vm.cpu.2u',"
                 "'instance_count':1}]}]}"),
             &set);
    assert_int_equal(set.n_services, 1);
    assert_int_equal(set.n_logs, 1);
    const struct sl_import_service *s = &set.services[0];
    assert_string_equal(s->project_id, "demo-project");
    assert_string_equal(s->service_id, "xxxx");
    assert_string_equal(s->service_name, "mnist");
    assert_int_equal(s->infer_type, MODELARTS__V1__INFER_TYPE__REAL_TIME);
    assert_int_equal(s->n_logs, 1);
    assert_int_equal(s->logs[0].update_time, 123432423);

    Modelarts__V1__ServiceLog *m = unpack(&s->logs[0]);
    assert_int_equal(m->result, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
    assert_int_equal(m->n_config, 1);
    Modelarts__V1__ServiceConfig *c = m->config[0];
    assert_string_equal(c->model_id, "xxxx");
    assert_string_equal(c->model_name, "mnist");
    assert_string_equal(c->model_version, "1.0.1");
    assert_int_equal(c->weight, 70);
    assert_string_equal(c->specification, "modelarts.vm.cpu.2u");
    assert_int_equal(c->instance_count, 1);
    assert_int_equal(c->n_envs, 0);
    assert_int_equal(m->success_num, 0);
    assert_int_equal(m->failed_num, 0);
    assert_int_equal(m->n_result_detail, 0);
    modelarts__v1__service_log__free_unpacked(m, NULL);
    sl_import_set_free(&set);
}

static void test_edge_service(void **state)
{
    (void)state;
    struct sl_import_set set;
    parse_ok(EDGE("{'update_time':9223372036854775807,'result':'RUNNING',"
                  "'config':[{'model_id':'m1','model_name':'yolo',"
                  "'model_version':'2.0','specification':'edge.arm',"
                  "'envs':{'B':'2','A':'1'}}],"
                  "'success_num':'2','failed_num':1,'result_detail':["
                  "{'node_id':'n1','node_name':'north','operation':'deploy',"
                  "'result':true},"
                  "{'node_id':'n2','node_name':'south','operation':'delete',"
                  "'result':false}]},"
                  "{'update_time':0,'result':'FAIL','config':[]}"),
             &set);
    assert_int_equal(set.n_logs, 2);
    const struct sl_import_service *s = &set.services[0];
    assert_int_equal(s->infer_type, MODELARTS__V1__INFER_TYPE__EDGE);
    /* File order is kept; the store sorts. */
    assert_int_equal(s->logs[0].update_time, INT64_MAX);
    assert_int_equal(s->logs[1].update_time, 0);

    Modelarts__V1__ServiceLog *m = unpack(&s->logs[0]);
    assert_int_equal(m->result, MODELARTS__V1__UPDATE_RESULT__RUNNING);
    assert_int_equal(m->success_num, 2);
    assert_int_equal(m->failed_num, 1);
    assert_int_equal(m->n_config, 1);
    assert_int_equal(m->config[0]->weight, 0);
    assert_int_equal(m->config[0]->instance_count, 0);
    assert_string_equal(m->config[0]->specification, "edge.arm");
    assert_int_equal(m->config[0]->n_envs, 2);
    assert_string_equal(m->config[0]->envs[0]->key, "A");
    assert_string_equal(m->config[0]->envs[0]->value, "1");
    assert_string_equal(m->config[0]->envs[1]->key, "B");
    assert_int_equal(m->n_result_detail, 2);
    assert_string_equal(m->result_detail[0]->node_id, "n1");
    assert_string_equal(m->result_detail[0]->node_name, "north");
    assert_int_equal(m->result_detail[0]->operation,
                     MODELARTS__V1__NODE_OPERATION__DEPLOY);
    assert_true(m->result_detail[0]->result);
    assert_int_equal(m->result_detail[1]->operation,
                     MODELARTS__V1__NODE_OPERATION__DELETE);
    assert_false(m->result_detail[1]->result);
    modelarts__v1__service_log__free_unpacked(m, NULL);

    /* update_time 0 and FAIL with no config: still one packed log. */
    m = unpack(&s->logs[1]);
    assert_int_equal(m->result, MODELARTS__V1__UPDATE_RESULT__FAIL);
    assert_int_equal(m->n_config, 0);
    modelarts__v1__service_log__free_unpacked(m, NULL);
    sl_import_set_free(&set);
}

static void test_batch_and_defaults(void **state)
{
    (void)state;
    struct sl_import_set set;
    parse_ok(
        DOC(SVC(
            "batch",
            LOG(CFG(""),
                "")) ","
                     "{'project_id':'p1','service_id':'s2','service_name':'n',"
                     "'infer_type':'real-time','logs':[]},"
                     "{'project_id':'p2','service_id':'s1','service_name':'n',"
                     "'infer_type':'real-time','logs':[" LOG(CFG(""), "") "]}"),
        &set);
    assert_int_equal(set.n_services, 3);
    assert_int_equal(set.n_logs, 2);
    assert_int_equal(set.services[0].infer_type,
                     MODELARTS__V1__INFER_TYPE__BATCH);
    assert_int_equal(set.services[1].n_logs, 0);
    assert_null(set.services[1].logs);
    Modelarts__V1__ServiceLog *m = unpack(&set.services[2].logs[0]);
    assert_int_equal(m->config[0]->weight, 0);
    assert_int_equal(m->config[0]->instance_count, 0);
    assert_string_equal(m->config[0]->specification, "");
    assert_int_equal(m->config[0]->n_envs, 0);
    modelarts__v1__service_log__free_unpacked(m, NULL);
    sl_import_set_free(&set);

    parse_ok("{'services':[]}", &set);
    assert_int_equal(set.n_services, 0);
    assert_int_equal(set.n_logs, 0);
    sl_import_set_free(&set);
}

/* Real double quotes here: the values hold quotes. */
#define ENVS_DOC(envs)                                                         \
    "{\"services\":[{\"project_id\":\"p\",\"service_id\":\"s\","               \
    "\"service_name\":\"n\",\"infer_type\":\"real-time\",\"logs\":["           \
    "{\"update_time\":5,\"result\":\"SUCCESS\",\"config\":["                   \
    "{\"model_id\":\"m\",\"model_name\":\"m\",\"model_version\":\"1\","        \
    "\"envs\":" envs "}]}]}]}"

static void pack_of(const char *json, uint8_t **out, size_t *len)
{
    struct sl_import_set set;
    struct sl_err err;
    assert_sl_ok(sl_import_parse(json, strlen(json), &set, &err), &err);
    assert_int_equal(set.n_logs, 1);
    *len = set.services[0].logs[0].body.len;
    *out = malloc(*len);
    memcpy(*out, set.services[0].logs[0].body.data, *len);
    sl_import_set_free(&set);
}

static void test_envs_text_and_determinism(void **state)
{
    (void)state;
    static const char one[] = ENVS_DOC(
        "{\"Z\":\"say \\\"hi\\\"\\nline 2\",\"caf\\u00e9\":\"\\u65e5\","
        "\"a\":\"\",\"A_\xc3\xbc\":\"\xe6\x97\xa5\xe6\x9c\xac\"}");
    static const char other_order[] = ENVS_DOC(
        "{\"A_\xc3\xbc\":\"\xe6\x97\xa5\xe6\x9c\xac\",\"a\":\"\","
        "\"caf\\u00e9\":\"\\u65e5\",\"Z\":\"say \\\"hi\\\"\\nline 2\"}");
    struct sl_import_set set;
    struct sl_err err;
    assert_sl_ok(sl_import_parse(one, strlen(one), &set, &err), &err);
    Modelarts__V1__ServiceLog *m = unpack(&set.services[0].logs[0]);
    Modelarts__V1__ServiceConfig *c = m->config[0];
    assert_int_equal(c->n_envs, 4);
    /* Sorted by key, bytewise. */
    assert_string_equal(c->envs[0]->key, "A_\xc3\xbc");
    assert_string_equal(c->envs[0]->value, "\xe6\x97\xa5\xe6\x9c\xac");
    assert_string_equal(c->envs[1]->key, "Z");
    assert_string_equal(c->envs[1]->value, "say \"hi\"\nline 2");
    assert_string_equal(c->envs[2]->key, "a");
    assert_string_equal(c->envs[2]->value, "");
    assert_string_equal(c->envs[3]->key, "caf\xc3\xa9");
    assert_string_equal(c->envs[3]->value, "\xe6\x97\xa5");
    modelarts__v1__service_log__free_unpacked(m, NULL);
    sl_import_set_free(&set);

    uint8_t *a, *b, *x;
    size_t la, lb, lx;
    pack_of(one, &a, &la);
    pack_of(one, &b, &lb);
    pack_of(other_order, &x, &lx);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_int_equal(la, lx);
    assert_memory_equal(a, x, la); /* key order in the file does not matter */
    free(a);
    free(b);
    free(x);
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    static const char buf[] = "{\"services\":[]}GARBAGE";
    struct sl_import_set set;
    struct sl_err err;
    assert_sl_ok(sl_import_parse(buf, 15, &set, &err), &err);
    sl_import_set_free(&set);
    sl_import_set_free(&set); /* an empty set frees again */
}

/* The live platform's fields, packed: cluster_id and extend_config on the
 * log, custom_spec and cluster_id on a config; custom_spec {} is present
 * (an empty message), an absent one is not; floats as floats. */
static void test_live_fields(void **state)
{
    (void)state;
    struct sl_import_set set;
    parse_ok(
        RT(LOG(
            CFG(",'custom_spec':{'gpu_p4':0.25,'memory':'8192',"
                "'cpu':2,'ascend_a310':1},'cluster_id':'pool-1'") "," CFG(",'"
                                                                          "cust"
                                                                          "om_"
                                                                          "spec"
                                                                          "':{"
                                                                          "}") "," CFG(""),
            ",'cluster_id':'c-1','extend_config':['x=1','{}']")),
        &set);
    Modelarts__V1__ServiceLog *m = unpack(&set.services[0].logs[0]);
    assert_string_equal(m->cluster_id, "c-1");
    assert_int_equal(m->n_extend_config, 2);
    assert_string_equal(m->extend_config[0], "x=1");
    assert_string_equal(m->extend_config[1], "{}");
    assert_int_equal(m->n_config, 3);
    const Modelarts__V1__CustomSpec *cs = m->config[0]->custom_spec;
    assert_non_null(cs);
    assert_true(cs->gpu_p4 == 0.25f);
    assert_int_equal(cs->memory, 8192);
    assert_true(cs->cpu == 2.0f);
    assert_int_equal(cs->ascend_a310, 1);
    assert_string_equal(m->config[0]->cluster_id, "pool-1");
    cs = m->config[1]->custom_spec;
    assert_non_null(cs);
    assert_true(cs->gpu_p4 == 0 && cs->memory == 0 && cs->cpu == 0 &&
                cs->ascend_a310 == 0);
    assert_null(m->config[2]->custom_spec);
    assert_string_equal(m->config[2]->cluster_id, "");
    modelarts__v1__service_log__free_unpacked(m, NULL);
    sl_import_set_free(&set);

    /* The new fields are allowed on every infer_type. */
    parse_ok(EDGE(LOG(CFG(",'custom_spec':{'cpu':1}"),
                      ",'cluster_id':'e','success_num':1")),
             &set);
    sl_import_set_free(&set);
}

/* Reads a hex line "S L HEX" of a golden file into out (malloc'd). */
static size_t golden_line(FILE *f, size_t *svc, size_t *log, uint8_t **out)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n <= 0) {
        free(line);
        return 0;
    }
    char hex[8192];
    assert_int_equal(sscanf(line, "%zu %zu %8191s", svc, log, hex), 3);
    size_t len = strlen(hex) / 2;
    *out = malloc(len);
    for (size_t i = 0; i < len; i++) {
        unsigned b;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        (*out)[i] = (uint8_t)b;
    }
    free(line);
    return len;
}

/* A document without the new fields packs to the bytes it packed to before
 * them (tests/fixtures/demo.packed.hex: demo.json packed by the import of
 * 30f433e, the last before the live fields and the shared log rules). */
static void test_demo_packs_as_before(void **state)
{
    (void)state;
    FILE *f = fopen(SL_SOURCE_DIR "/tests/fixtures/demo.json", "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    struct sl_import_set set;
    struct sl_err err;
    assert_sl_ok(sl_import_parse(buf, n, &set, &err), &err);
    f = fopen(SL_SOURCE_DIR "/tests/fixtures/demo.packed.hex", "r");
    assert_non_null(f);
    size_t svc, log, len, lines = 0;
    uint8_t *want;
    while ((len = golden_line(f, &svc, &log, &want)) > 0) {
        assert_true(svc < set.n_services && log < set.services[svc].n_logs);
        const struct sl_blob *got = &set.services[svc].logs[log].body;
        if (got->len != len || memcmp(got->data, want, len) != 0)
            fail_msg("services[%zu].logs[%zu] packs differently", svc, log);
        free(want);
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, set.n_logs);
    sl_import_set_free(&set);
}

/* ---- sl_import_file ----------------------------------------------------- */

static int store_setup(void **state)
{
    struct sl_store *st;
    struct sl_err err;
    assert_sl_ok(sl_store_open("memory:", &st, &err), &err);
    *state = st;
    return 0;
}

static int store_teardown(void **state)
{
    sl_store_close(*state);
    return 0;
}

static void test_import_demo_fixture(void **state)
{
    struct sl_store *st = *state;
    struct sl_err err;
    size_t ns, nl;
    assert_sl_ok(sl_import_file(st, SL_SOURCE_DIR "/tests/fixtures/demo.json",
                                &ns, &nl, &err),
                 &err);
    assert_int_equal(ns, 4);
    assert_int_equal(nl, 5);

    struct sl_log_query q = {"demo-project", "mnist-svc", 0, 0};
    struct sl_log_page pg;
    assert_sl_ok(sl_store_query_logs(st, &q, &pg, &err), &err);
    assert_string_equal(pg.service_name, "mnist");
    assert_int_equal(pg.infer_type, MODELARTS__V1__INFER_TYPE__REAL_TIME);
    assert_int_equal(pg.n_logs, 2);
    Modelarts__V1__ServiceLog *m = modelarts__v1__service_log__unpack(
        NULL, pg.logs[0].len, pg.logs[0].data);
    assert_non_null(m);
    assert_int_equal(m->update_time, 123432423);
    assert_int_equal(m->result, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
    assert_int_equal(m->n_config, 1);
    assert_string_equal(m->config[0]->model_id, "mnist-model-01");
    assert_string_equal(m->config[0]->model_version, "1.0.1");
    assert_int_equal(m->config[0]->weight, 70);
    assert_string_equal(m->config[0]->specification, "modelarts.vm.cpu.2u");
    assert_int_equal(m->config[0]->instance_count, 1);
    modelarts__v1__service_log__free_unpacked(m, NULL);
    sl_log_page_free(&pg);

    q.service_id = "edge-svc";
    assert_sl_ok(sl_store_query_logs(st, &q, &pg, &err), &err);
    assert_int_equal(pg.infer_type, MODELARTS__V1__INFER_TYPE__EDGE);
    assert_int_equal(pg.n_logs, 1);
    sl_log_page_free(&pg);
    q.service_id = "batch-svc";
    assert_sl_ok(sl_store_query_logs(st, &q, &pg, &err), &err);
    assert_int_equal(pg.infer_type, MODELARTS__V1__INFER_TYPE__BATCH);
    sl_log_page_free(&pg);
    q.service_id = "private-svc"; /* lives in other-project */
    assert_sl_err(sl_store_query_logs(st, &q, &pg, &err), SL_ENOTFOUND, &err);
    sl_log_page_free(&pg);

    /* Again: same counts, same data. */
    assert_sl_ok(sl_import_file(st, SL_SOURCE_DIR "/tests/fixtures/demo.json",
                                &ns, &nl, &err),
                 &err);
    assert_int_equal(nl, 5);
}

static void test_import_live_fixture(void **state)
{
    struct sl_store *st = *state;
    struct sl_err err;
    size_t ns, nl;
    assert_sl_ok(
        sl_import_file(st, SL_SOURCE_DIR "/tests/fixtures/live_fields.json",
                       &ns, &nl, &err),
        &err);
    assert_int_equal(ns, 2);
    assert_int_equal(nl, 3);
    struct sl_log_query q = {"live-project", "edge-svc", 0, 0};
    struct sl_log_page pg;
    assert_sl_ok(sl_store_query_logs(st, &q, &pg, &err), &err);
    assert_int_equal(pg.n_logs, 1);
    Modelarts__V1__ServiceLog *m = modelarts__v1__service_log__unpack(
        NULL, pg.logs[0].len, pg.logs[0].data);
    assert_non_null(m);
    assert_string_equal(m->cluster_id, "edge-site-9");
    assert_non_null(m->config[0]->custom_spec);
    assert_int_equal(m->config[0]->custom_spec->memory, 512);
    assert_int_equal(m->n_result_detail, 2);
    modelarts__v1__service_log__free_unpacked(m, NULL);
    sl_log_page_free(&pg);
}

static void test_import_file_errors(void **state)
{
    struct sl_store *st = *state;
    struct sl_err err;
    size_t ns = 9, nl = 9;
    assert_sl_err(sl_import_file(st, "/nonexistent-sl/x.json", &ns, &nl, &err),
                  SL_EIO, &err);
    assert_string_equal(err.msg,
                        "/nonexistent-sl/x.json: No such file or directory");
    assert_int_equal(ns, 0);
    assert_int_equal(nl, 0);
    assert_sl_err(sl_import_file(st, "/tmp", NULL, NULL, &err), SL_EIO, &err);
    assert_string_equal(err.msg, "/tmp: Is a directory");
}

/* A bad file changes nothing in the store. */
static void test_import_bad_fixtures(void **state)
{
    static const struct {
        const char *file;
        const char *msg;
    } cases[] = {
        {"bad_result.json",
         "services[0].logs[1].result: expected SUCCESS, FAIL or RUNNING"},
        {"bad_duplicate.json",
         "services[2].service_id: duplicate of services[0]"},
        {"bad_field.json", "services[0].logs[0].config[0].weight: only "
                           "allowed for real-time services (this service is "
                           "edge)"},
        {"bad_syntax.json", "~invalid JSON at line 4 column"},
        {"bad_custom_spec.json", "services[0].logs[0].config[0].custom_spec: "
                                 "unknown field \"gpu_t4\""},
        {"bad_extend_config.json", "services[0].logs[0].extend_config: too "
                                   "many entries (9, at most 8)"},
    };
    struct sl_store *st = *state;
    struct sl_err err;
    char path[512];
    assert_sl_ok(sl_import_file(st, SL_SOURCE_DIR "/tests/fixtures/demo.json",
                                NULL, NULL, &err),
                 &err);
    for (size_t i = 0; i < N(cases); i++) {
        snprintf(path, sizeof(path), "%s/tests/fixtures/%s", SL_SOURCE_DIR,
                 cases[i].file);
        int rc = sl_import_file(st, path, NULL, NULL, &err);
        if (rc != SL_EFORMAT)
            fail_msg("%s: want EFORMAT, got %s: %s", cases[i].file,
                     sl_err_name(rc), err.msg);
        const char *want = cases[i].msg;
        if (want[0] == '~' ? !strstr(err.msg, want + 1)
                           : strcmp(err.msg, want) != 0)
            fail_msg("%s: want \"%s\", got \"%s\"", cases[i].file, want,
                     err.msg);
    }
    struct sl_log_query q = {"demo-project", "mnist-svc", 0, 0};
    struct sl_log_page pg;
    assert_sl_ok(sl_store_query_logs(st, &q, &pg, &err), &err);
    assert_string_equal(pg.service_name, "mnist");
    assert_int_equal(pg.n_logs, 2);
    sl_log_page_free(&pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_docs),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_edge_service),
        cmocka_unit_test(test_batch_and_defaults),
        cmocka_unit_test(test_envs_text_and_determinism),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_live_fields),
        cmocka_unit_test(test_demo_packs_as_before),
        cmocka_unit_test_setup_teardown(test_import_demo_fixture, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_import_live_fixture, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_import_file_errors, store_setup,
                                        store_teardown),
        cmocka_unit_test_setup_teardown(test_import_bad_fixtures, store_setup,
                                        store_teardown),
    };
    return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
