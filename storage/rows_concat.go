package storage

// AppendRows appends src's rows to r, sharing src's strings, attribute maps
// and event/link slices (they are immutable once appended): several buffers,
// filled apart, go out in one insert. r's limits do not apply to them.
func (r *SpanRows) AppendRows(src *SpanRows) {
	r.Timestamp = append(r.Timestamp, src.Timestamp...)
	r.TraceID = append(r.TraceID, src.TraceID...)
	r.SpanID = append(r.SpanID, src.SpanID...)
	r.ParentSpanID = append(r.ParentSpanID, src.ParentSpanID...)
	r.TraceState = append(r.TraceState, src.TraceState...)
	r.SpanName = append(r.SpanName, src.SpanName...)
	r.SpanKind = append(r.SpanKind, src.SpanKind...)
	r.ServiceName = append(r.ServiceName, src.ServiceName...)
	r.ResourceAttributes = append(r.ResourceAttributes, src.ResourceAttributes...)
	r.ScopeName = append(r.ScopeName, src.ScopeName...)
	r.ScopeVersion = append(r.ScopeVersion, src.ScopeVersion...)
	r.SpanAttributes = append(r.SpanAttributes, src.SpanAttributes...)
	r.Duration = append(r.Duration, src.Duration...)
	r.StatusCode = append(r.StatusCode, src.StatusCode...)
	r.StatusMessage = append(r.StatusMessage, src.StatusMessage...)
	r.EventsTimestamp = append(r.EventsTimestamp, src.EventsTimestamp...)
	r.EventsName = append(r.EventsName, src.EventsName...)
	r.EventsAttributes = append(r.EventsAttributes, src.EventsAttributes...)
	r.LinksTraceID = append(r.LinksTraceID, src.LinksTraceID...)
	r.LinksSpanID = append(r.LinksSpanID, src.LinksSpanID...)
	r.LinksTraceState = append(r.LinksTraceState, src.LinksTraceState...)
	r.LinksAttributes = append(r.LinksAttributes, src.LinksAttributes...)
}

// Release is Reset that also drops every reference the rows hold, so that
// what they pointed to (another buffer's chunks, after AppendRows) can be
// freed while this buffer's capacity is kept for the next batch.
func (r *SpanRows) Release() {
	for _, c := range [][]string{r.TraceID, r.SpanID, r.ParentSpanID, r.TraceState, r.SpanName, r.SpanKind,
		r.ServiceName, r.ScopeName, r.ScopeVersion, r.StatusCode, r.StatusMessage} {
		clear(c)
	}
	clear(r.EventsTimestamp)
	clear(r.EventsName)
	clear(r.LinksTraceID)
	clear(r.LinksSpanID)
	clear(r.LinksTraceState)
	r.Reset()
}

// AppendRows appends src's rows to r, sharing src's strings and attribute
// maps (see SpanRows.AppendRows).
func (r *LogRows) AppendRows(src *LogRows) {
	r.Timestamp = append(r.Timestamp, src.Timestamp...)
	r.TraceID = append(r.TraceID, src.TraceID...)
	r.SpanID = append(r.SpanID, src.SpanID...)
	r.TraceFlags = append(r.TraceFlags, src.TraceFlags...)
	r.SeverityText = append(r.SeverityText, src.SeverityText...)
	r.SeverityNumber = append(r.SeverityNumber, src.SeverityNumber...)
	r.ServiceName = append(r.ServiceName, src.ServiceName...)
	r.Body = append(r.Body, src.Body...)
	r.ResourceSchemaURL = append(r.ResourceSchemaURL, src.ResourceSchemaURL...)
	r.ResourceAttributes = append(r.ResourceAttributes, src.ResourceAttributes...)
	r.ScopeSchemaURL = append(r.ScopeSchemaURL, src.ScopeSchemaURL...)
	r.ScopeName = append(r.ScopeName, src.ScopeName...)
	r.ScopeVersion = append(r.ScopeVersion, src.ScopeVersion...)
	r.ScopeAttributes = append(r.ScopeAttributes, src.ScopeAttributes...)
	r.LogAttributes = append(r.LogAttributes, src.LogAttributes...)
	r.EventName = append(r.EventName, src.EventName...)
}

// Release is LogRows' Reset that also drops every reference the rows hold
// (see SpanRows.Release).
func (r *LogRows) Release() {
	for _, c := range [][]string{r.TraceID, r.SpanID, r.SeverityText, r.ServiceName, r.Body,
		r.ResourceSchemaURL, r.ScopeSchemaURL, r.ScopeName, r.ScopeVersion, r.EventName} {
		clear(c)
	}
	r.Reset()
}
