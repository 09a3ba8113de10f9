package otlpwire

// UsesDeprecatedLibraryField says whether an export request (traces or
// logs: their fields have the same numbers) carries records in the pre-0.15
// field ResourceSpans.instrumentation_library_spans or
// ResourceLogs.instrumentation_library_logs. pdata's request types move
// their content into scope_spans/scope_logs when they unmarshal
// (MigrateTraces/MigrateLogs); ProtoUnmarshaler and Validate* do not. A
// reader of the bytes should hand such a request to pdata's request types.
// b must be valid.
func UsesDeprecatedLibraryField(b []byte) bool {
	for len(b) > 0 {
		f, n := Read(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if f.Tag() != TracesRequestResourceSpans {
			continue
		}
		for r := f.V; len(r) > 0; {
			g, m := Read(r)
			if m < 0 {
				break
			}
			r = r[m:]
			if g.Num == ResourceSpansLibrarySpans.Num() {
				return true
			}
		}
	}
	return false
}
