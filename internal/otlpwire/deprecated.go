package otlpwire

import "google.golang.org/protobuf/encoding/protowire"

// deprecatedLibraryField is ResourceSpans.instrumentation_library_spans and
// ResourceLogs.instrumentation_library_logs (OTLP before 0.15, 2021):
// pdata's request types move their content into scope_spans/scope_logs
// when they unmarshal (MigrateTraces/MigrateLogs), ProtoUnmarshaler and
// Validate* do not.
const deprecatedLibraryField = 1000

// UsesDeprecatedLibraryField says whether an export request (traces or
// logs: field 1 holds the resource messages in both) carries records in
// the pre-0.15 field, which only pdata's request types migrate. A reader
// of the bytes should hand such a request to them. b must be valid.
func UsesDeprecatedLibraryField(b []byte) bool {
	for len(b) > 0 {
		f, n := Read(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if f.Num != 1 || f.Type != protowire.BytesType {
			continue
		}
		for r := f.V; len(r) > 0; {
			g, m := Read(r)
			if m < 0 {
				break
			}
			r = r[m:]
			if g.Num == deprecatedLibraryField {
				return true
			}
		}
	}
	return false
}
