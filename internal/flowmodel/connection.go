package flowmodel

// Connection types of an edge (the connection_type label and column), as
// in the OTel servicegraph connector; unset is a plain call.
const (
	ConnectionUnset     = ""
	ConnectionVirtual   = "virtual_node"
	ConnectionMessaging = "messaging_system"
	ConnectionDatabase  = "database"
)

// ConnectionUnsetName is how filters, series labels and the node graph
// name a plain call's connection type, whose value is empty: in a filter
// the empty string means any type.
const ConnectionUnsetName = "unset"

// ConnectionFilters are the connection types an edge filter takes (besides
// "", any type), as users write them.
var ConnectionFilters = []string{ConnectionUnsetName, ConnectionMessaging, ConnectionDatabase, ConnectionVirtual}

// ConnectionName is the connection type conn as filters and labels name it.
func ConnectionName(conn string) string {
	if conn == ConnectionUnset {
		return ConnectionUnsetName
	}
	return conn
}

// ConnectionOfName is the connection type a name (one of
// ConnectionFilters) means: ConnectionName's inverse.
func ConnectionOfName(name string) string {
	if name == ConnectionUnsetName {
		return ConnectionUnset
	}
	return name
}

// ConnectionMatches says whether an edge of connection type conn passes
// filter: "" any, ConnectionUnsetName plain calls, else that type.
func ConnectionMatches(conn, filter string) bool {
	return filter == "" || conn == ConnectionOfName(filter)
}

// ConnType is a connection type as the analyzer keys its edges: a byte.
type ConnType uint8

const (
	ConnUnset ConnType = iota
	ConnVirtualNode
	ConnMessaging
	ConnDatabase
)

var connNames = [...]string{ConnUnset: ConnectionUnset, ConnVirtualNode: ConnectionVirtual,
	ConnMessaging: ConnectionMessaging, ConnDatabase: ConnectionDatabase}

// String is the connection type's name (Connection*).
func (c ConnType) String() string {
	if int(c) < len(connNames) {
		return connNames[c]
	}
	return ConnectionUnset
}
