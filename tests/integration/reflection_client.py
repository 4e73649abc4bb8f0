"""reflection_client.py -- a reflection-only client on another gRPC stack
(Python grpcio and google.protobuf, as Debian ships them).

It knows nothing of servicelogs' schema: no .proto file of ours, no
generated code. The only schema it brings is the reflection protocol's own,
compiled at run time from /usr/share/grpc-proto with protoc. Everything else
comes from the server: it lists the services, downloads the descriptors of
modelarts.v1.ServiceLogs and grpc.health.v1.Health, builds the request
types from them and calls the methods.

usage: reflection_client.py ADDR DEMO_JSON
    ADDR       host:port of the gRPC server
    DEMO_JSON  the demo data the server's store was imported from
prints one "ok: ..." or "FAIL: ..." line per check; exits 1 on any failure.
"""
import json
import os
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

GRPC_PROTO = "/usr/share/grpc-proto"
VERSIONS = ("v1", "v1alpha")
SERVICES = [
    "modelarts.v1.ServiceLogs",
    "modelarts.v1.ServiceLogWriter",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
]
SERVICE_LOGS_FILES = {
    "modelarts/v1/service_logs.proto",
    "google/api/annotations.proto",
    "google/api/http.proto",
    "google/protobuf/descriptor.proto",
}
HTTP_GET = "/v1/{project_id}/services/{service_id}/logs"
TIMEOUT = 10

FAILS = 0


def ok(name):
    print("ok: %s" % name, flush=True)


def fail(name, why):
    global FAILS
    FAILS += 1
    print("FAIL: %s: %s" % (name, why), flush=True)


def check(name, want, got):
    if want == got:
        ok(name)
    else:
        fail(name, "want %r got %r" % (want, got))
    return want == got


def message_class(pool, full_name):
    """The message class of full_name in pool (protobuf 3.21 and later)."""
    desc = pool.FindMessageTypeByName(full_name)
    get = getattr(message_factory, "GetMessageClass", None)
    if get:
        return get(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def reflection_types(tmp):
    """The reflection protocol's messages, compiled from grpc-proto now:
    {version: (ServerReflectionRequest, ServerReflectionResponse)}."""
    out = os.path.join(tmp, "reflection.protoset")
    subprocess.check_call(
        ["protoc", "-I" + GRPC_PROTO, "--descriptor_set_out=" + out] +
        ["grpc/reflection/%s/reflection.proto" % v for v in VERSIONS])
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    return {
        v: (message_class(pool,
                          "grpc.reflection.%s.ServerReflectionRequest" % v),
            message_class(pool,
                          "grpc.reflection.%s.ServerReflectionResponse" % v))
        for v in VERSIONS
    }


class Reflection:
    """One version of grpc.reflection.*.ServerReflection/ServerReflectionInfo
    on a channel."""

    def __init__(self, channel, version, types):
        self.version = version
        self.req_cls, resp_cls = types[version]
        self.info = channel.stream_stream(
            "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" %
            version,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=resp_cls.FromString)

    def request(self, **kw):
        return self.req_cls(host="reflection-client", **kw)

    def ask_many(self, reqs):
        """Sends reqs on one stream; returns the responses, in order."""
        return list(self.info(iter(reqs), timeout=TIMEOUT))

    def ask(self, **kw):
        resps = self.ask_many([self.request(**kw)])
        if len(resps) != 1:
            raise RuntimeError("%d responses to one request" % len(resps))
        return resps[0]


def file_protos(resp):
    """The FileDescriptorProtos of a file_descriptor_response."""
    if resp.WhichOneof("message_response") != "file_descriptor_response":
        raise RuntimeError("not a file_descriptor_response: %s" % resp)
    out = []
    for blob in resp.file_descriptor_response.file_descriptor_proto:
        fd = descriptor_pb2.FileDescriptorProto()
        fd.ParseFromString(blob)
        out.append(fd)
    return out


def build_pool(fds):
    """A fresh pool holding fds, added imports first; raises when an import
    is missing from fds."""
    by_name = {fd.name: fd for fd in fds}
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name, path):
        if name in added:
            return
        if name in path:
            raise RuntimeError("import cycle at %s" % name)
        if name not in by_name:
            raise RuntimeError("server did not send %s" % name)
        for dep in by_name[name].dependency:
            add(dep, path + (name,))
        pool.Add(by_name[name])
        added.add(name)

    for fd in fds:
        add(fd.name, ())
    return pool


def check_files(tag, fds, first, want_names):
    names = [fd.name for fd in fds]
    check("%s: requested file first" % tag, first, names[0] if names else None)
    check("%s: each file once" % tag, len(names), len(set(names)))
    check("%s: files are the import closure, named by import path" % tag,
          sorted(want_names), sorted(names))


def test_reflection(channel, version, types, demo):
    r = Reflection(channel, version, types)
    tag = "[%s]" % version

    # Several requests on one stream, answered in order.
    reqs = [
        r.request(list_services="*"),
        r.request(file_containing_symbol="modelarts.v1.ServiceLogs"),
        r.request(file_containing_symbol="modelarts.v1.NoSuchThing"),
        r.request(file_by_filename="google/api/http.proto"),
    ]
    resps = r.ask_many(reqs)
    if not check("%s four answers on one stream" % tag, 4, len(resps)):
        return
    lst, sym, unknown, http = resps
    check("%s answers echo their requests, in order" % tag, reqs,
          [x.original_request for x in resps])
    check("%s valid_host echoed" % tag, "reflection-client", lst.valid_host)

    check("%s list_services" % tag, sorted(SERVICES),
          sorted(s.name for s in lst.list_services_response.service))

    check("%s unknown symbol: error_response" % tag, "error_response",
          unknown.WhichOneof("message_response"))
    check("%s unknown symbol: NOT_FOUND (5)" % tag, 5,
          unknown.error_response.error_code)

    # No message_request: INVALID_ARGUMENT inside the stream, which goes on.
    resps = r.ask_many([r.request(), r.request(list_services="")])
    check("%s empty request: error_response INVALID_ARGUMENT (3), then "
          "the next answer" % tag,
          [("error_response", 3), ("list_services_response", 0)],
          [(x.WhichOneof("message_response"), x.error_response.error_code)
           for x in resps])
    # Bytes that are not a request at all end the call.
    raw = channel.stream_stream(
        "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version)
    try:
        list(raw(iter([b"\xff"]), timeout=TIMEOUT))
        fail("%s malformed request ends the call" % tag, "no error")
    except grpc.RpcError as e:
        check("%s malformed request: INVALID_ARGUMENT" % tag,
              grpc.StatusCode.INVALID_ARGUMENT, e.code())

    fds = file_protos(http)
    check("%s file_by_filename google/api/http.proto" % tag,
          ["google/api/http.proto"], [fd.name for fd in fds])

    fds = file_protos(sym)
    check_files("%s file_containing_symbol ServiceLogs" % tag, fds,
                "modelarts/v1/service_logs.proto", SERVICE_LOGS_FILES)
    pool = build_pool(fds)
    ok("%s downloaded descriptors load into a fresh pool" % tag)

    # describe modelarts.v1.ServiceLogs, from the downloaded descriptors only
    svc = pool.FindServiceByName("modelarts.v1.ServiceLogs")
    check("%s methods" % tag, ["QueryServiceLogs", "WatchServiceLogs"],
          [m.name for m in svc.methods])
    m = svc.methods_by_name["QueryServiceLogs"]
    check("%s input type" % tag, "modelarts.v1.QueryServiceLogsRequest",
          m.input_type.full_name)
    check("%s output type" % tag, "modelarts.v1.QueryServiceLogsResponse",
          m.output_type.full_name)
    # The option is an extension the downloaded annotations.proto defines:
    # read it with the pool's own MethodOptions, which knows it.
    options_cls = message_class(pool, "google.protobuf.MethodOptions")
    options = options_cls.FromString(m.GetOptions().SerializeToString())
    rule = options.Extensions[pool.FindExtensionByName("google.api.http")]
    check("%s google.api.http GET" % tag, HTTP_GET, rule.get)

    # Call QueryServiceLogs with types built from the downloaded descriptors.
    req_cls = message_class(pool, m.input_type.full_name)
    resp_cls = message_class(pool, m.output_type.full_name)
    call = channel.unary_unary(
        "/modelarts.v1.ServiceLogs/QueryServiceLogs",
        request_serializer=lambda x: x.SerializeToString(),
        response_deserializer=resp_cls.FromString)
    svc_demo = demo["svc"]
    try:
        resp = call(req_cls(project_id=svc_demo["project_id"],
                            service_id=svc_demo["service_id"]),
                    timeout=TIMEOUT)
    except grpc.RpcError as e:
        fail("%s QueryServiceLogs" % tag, why(e))
        return
    check("%s QueryServiceLogs service_name" % tag, svc_demo["service_name"],
          resp.service_name)
    check("%s QueryServiceLogs logs" % tag, len(svc_demo["logs"]),
          len(resp.logs))
    check("%s QueryServiceLogs first update_time" % tag, demo["first_time"],
          resp.logs[0].update_time if resp.logs else None)
    infer = m.output_type.fields_by_name["infer_type"].enum_type
    check("%s QueryServiceLogs infer_type" % tag, "REAL_TIME",
          infer.values_by_number[resp.infer_type].name)


def test_health(channel, types):
    r = Reflection(channel, "v1", types)
    tag = "[health]"
    resp = r.ask(file_containing_symbol="grpc.health.v1.Health")
    fds = file_protos(resp)
    check_files(tag + " file_containing_symbol Health", fds,
                "grpc/health/v1/health.proto", {"grpc/health/v1/health.proto"})
    pool = build_pool(fds)
    svc = pool.FindServiceByName("grpc.health.v1.Health")
    check(tag + " methods", ["Check", "Watch"],
          sorted(m.name for m in svc.methods))
    req_cls = message_class(pool, "grpc.health.v1.HealthCheckRequest")
    resp_cls = message_class(pool, "grpc.health.v1.HealthCheckResponse")
    status = resp_cls.DESCRIPTOR.enum_types_by_name["ServingStatus"]

    def name(v):
        return status.values_by_number[v].name

    check_rpc = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=lambda x: x.SerializeToString(),
        response_deserializer=resp_cls.FromString)
    for service, want in (("", "SERVING"),
                          ("modelarts.v1.ServiceLogs", "SERVING")):
        what = "%s Check(%r)" % (tag, service)
        try:
            got = check_rpc(req_cls(service=service), timeout=TIMEOUT)
            check(what, want, name(got.status))
        except grpc.RpcError as e:
            fail(what, why(e))
    what = "%s Check('nope') is NOT_FOUND" % tag
    try:
        got = check_rpc(req_cls(service="nope"), timeout=TIMEOUT)
        fail(what, "answered %s" % name(got.status))
    except grpc.RpcError as e:
        check(what, grpc.StatusCode.NOT_FOUND, e.code())

    watch = channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=lambda x: x.SerializeToString(),
        response_deserializer=resp_cls.FromString)
    what = "%s Watch('') first message" % tag
    call = watch(req_cls(service=""), timeout=TIMEOUT)
    try:
        first = next(call)
        check(what, "SERVING", name(first.status))
    except grpc.RpcError as e:
        fail(what, why(e))
    except StopIteration:
        fail(what, "stream ended without a message")
    call.cancel()
    check(tag + " Watch cancelled", grpc.StatusCode.CANCELLED, call.code())


def why(e):
    """One line for an exception; RpcErrors as code and details."""
    if isinstance(e, grpc.RpcError) and hasattr(e, "code"):
        return "%s %s" % (e.code(), e.details())
    return repr(e)


def demo_expectations(path):
    """The demo's mnist-svc and its first (oldest) update_time."""
    with open(path) as f:
        demo = json.load(f)
    svc = next(s for s in demo["services"] if s["service_id"] == "mnist-svc")
    return {
        "svc": svc,
        "first_time": min(int(log["update_time"]) for log in svc["logs"]),
    }


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    addr, demo_path = sys.argv[1:]
    demo = demo_expectations(demo_path)
    with tempfile.TemporaryDirectory() as tmp:
        types = reflection_types(tmp)
    with grpc.insecure_channel(addr) as channel:
        for version in VERSIONS:
            try:
                test_reflection(channel, version, types, demo)
            except (grpc.RpcError, RuntimeError, KeyError) as e:
                fail("[%s] reflection" % version, why(e))
        try:
            test_health(channel, types)
        except (grpc.RpcError, RuntimeError, KeyError) as e:
            fail("[health]", why(e))
    if FAILS:
        print("%d reflection client check(s) failed" % FAILS, flush=True)
        sys.exit(1)
    print("all reflection client checks passed", flush=True)


if __name__ == "__main__":
    main()
