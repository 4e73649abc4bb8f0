/* reflection.h -- gRPC server reflection, answered from an embedded
 * FileDescriptorSet
 *
 * The build embeds a serialized FileDescriptorSet holding the transitive
 * closure of the served protos (protoc --include_imports
 * --descriptor_set_out): modelarts/v1/service_logs.proto,
 * google/api/annotations.proto, google/api/http.proto,
 * google/protobuf/descriptor.proto, grpc/health/v1/health.proto,
 * grpc/reflection/v1/reflection.proto and
 * grpc/reflection/v1alpha/reflection.proto. sl_reflection_create() splits
 * it per file and indexes every symbol once; answering is then lookups.
 *
 * grpc.reflection.v1 and v1alpha have the same messages on the wire, so one
 * function answers both.
 */
#ifndef SL_REFLECTION_H
#define SL_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/slice.h>

#include "error.h"

struct sl_reflection;

/* Parses the embedded descriptor set and builds the index. On success the
 * caller owns *out and frees it with sl_reflection_destroy(); on failure
 * *out is NULL. The result is immutable: THREAD SAFETY: any number of
 * threads may call sl_reflection_answer() on it at once. */
int sl_reflection_create(struct sl_reflection **out, struct sl_err *err);
void sl_reflection_destroy(struct sl_reflection *r); /* accepts NULL */

/* Answers one ServerReflectionRequest (req/len, packed) with one packed
 * ServerReflectionResponse in *resp (the caller unrefs it):
 * list_services, file_by_filename, file_containing_symbol (packages'
 * services, methods, messages, enums, nested names, fields),
 * file_containing_extension, all_extension_numbers_of_type; unknown names
 * get an error_response with NOT_FOUND (5) inside the stream, as the
 * protocol says. A file_descriptor_response carries the file and every
 * file it imports, transitively. SL_OK, or SL_EINVAL when req is not a
 * valid message (the call then ends with INVALID_ARGUMENT). */
int sl_reflection_answer(const struct sl_reflection *r, const uint8_t *req,
                         size_t len, grpc_slice *resp, struct sl_err *err);

#endif
