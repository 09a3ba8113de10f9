package chserver

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strconv"
	"text/template"

	"github.com/flowlens/flowlens/internal/embedded/chdb"
)

// enginePaths are the files and folders of the engine's configuration,
// under DataDir/flowlens.
type enginePaths struct {
	dir, config, users, userFiles, userScripts, formatSchemas, spool string
}

// writeEngineConfig writes the engine's configuration (config.xml,
// users.xml) and its empty private folders, every start, from the code:
// the engine's one user ("default", which every embedded session is) gets
// the grants and the settings constraints that hold for every role. The
// roles themselves are sessions of that user with readonly or allow_ddl
// set by the endpoint (see SECURITY.md).
func writeEngineConfig(dataDir string, ceiling Limits) (enginePaths, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return enginePaths{}, fmt.Errorf("resolve data folder %s: %w", dataDir, err)
	}
	dir := filepath.Join(abs, "flowlens")
	p := enginePaths{
		dir: dir, config: filepath.Join(dir, "config.xml"), users: filepath.Join(dir, "users.xml"),
		userFiles: filepath.Join(dir, "user_files"), userScripts: filepath.Join(dir, "user_scripts"),
		formatSchemas: filepath.Join(dir, "format_schemas"), spool: filepath.Join(dir, "spool"),
	}
	for _, d := range []string{p.dir, p.userFiles, p.userScripts, p.formatSchemas, p.spool} {
		if err := chdb.PrivateDir(d); err != nil {
			return p, err
		}
	}
	data := map[string]string{
		"Users": p.users, "UserFiles": p.userFiles + "/", "UserScripts": p.userScripts + "/",
		"FormatSchemas":    p.formatSchemas + "/",
		"MaxExecutionTime": strconv.FormatInt(seconds(ceiling.MaxExecutionTime), 10),
		"MaxMemoryUsage":   strconv.FormatInt(int64(ceiling.MaxMemoryUsage), 10),
		"MaxResultBytes":   strconv.FormatInt(int64(ceiling.MaxResultBytes), 10),
	}
	for path, tmpl := range map[string]*template.Template{p.config: configXML, p.users: usersXML} {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, data); err != nil {
			return p, fmt.Errorf("render engine configuration: %w", err)
		}
		if err := writePrivateFile(path, b.Bytes()); err != nil {
			return p, fmt.Errorf("write engine configuration: %w", err)
		}
	}
	return p, nil
}

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

var funcs = template.FuncMap{"x": xmlText}

// configXML: the paths the engine would otherwise take from the current
// folder. The embedded engine ignores user_files_path (clickhouse-local
// reads files anywhere); it is set to an empty folder all the same.
var configXML = template.Must(template.New("config").Funcs(funcs).Parse(`<clickhouse>
    <!-- Written by flowlens at every start of the endpoint; changes here are lost. -->
    <user_files_path>{{x .UserFiles}}</user_files_path>
    <user_scripts_path>{{x .UserScripts}}</user_scripts_path>
    <format_schema_path>{{x .FormatSchemas}}</format_schema_path>
    <user_directories>
        <users_xml><path>{{x .Users}}</path></users_xml>
    </user_directories>
</clickhouse>
`))

// usersXML: what the engine enforces for every session. No SOURCES grant
// (file, url, s3, remote, mysql, postgresql, hdfs, jdbc, odbc, ... and the
// Filesystem overlay of the default database), no SYSTEM, no KILL QUERY
// for other users, no access management, functions, dictionaries, named
// collections, backups or introspection; table engines only those granted.
// Constant settings cannot be changed by SET, SETTINGS or a profile.
var usersXML = template.Must(template.New("users").Funcs(funcs).Parse(`<clickhouse>
    <!-- Written by flowlens at every start of the endpoint; changes here are lost. -->
    <profiles>
        <default>
            <max_execution_time>{{.MaxExecutionTime}}</max_execution_time>
            <max_memory_usage>{{.MaxMemoryUsage}}</max_memory_usage>
            <max_result_bytes>{{.MaxResultBytes}}</max_result_bytes>
            <result_overflow_mode>throw</result_overflow_mode>
            <implicit_select>0</implicit_select>
            <allow_introspection_functions>0</allow_introspection_functions>
            <send_logs_level>none</send_logs_level>
            <constraints>
                <max_execution_time><min>1</min><max>{{.MaxExecutionTime}}</max></max_execution_time>
                <max_memory_usage><min>1</min><max>{{.MaxMemoryUsage}}</max></max_memory_usage>
                <max_result_bytes><min>1</min><max>{{.MaxResultBytes}}</max></max_result_bytes>
                <os_thread_priority><min>0</min></os_thread_priority>
                <workload><const/></workload>
                <result_overflow_mode><const/></result_overflow_mode>
                <implicit_select><const/></implicit_select>
                <allow_introspection_functions><const/></allow_introspection_functions>
                <send_logs_level><const/></send_logs_level>
                <dialect><const/></dialect>
                <compatibility><const/></compatibility>
                <allow_experimental_kusto_dialect><const/></allow_experimental_kusto_dialect>
                <allow_experimental_prql_dialect><const/></allow_experimental_prql_dialect>
                <format_schema><const/></format_schema>
                <format_schema_source><const/></format_schema_source>
                <format_template_resultset><const/></format_template_resultset>
                <format_template_row><const/></format_template_row>
                <output_format_schema><const/></output_format_schema>
                <input_format_record_errors_file_path><const/></input_format_record_errors_file_path>
                <format_avro_schema_registry_url><const/></format_avro_schema_registry_url>
                <rename_files_after_processing><const/></rename_files_after_processing>
                <url_base><const/></url_base>
                <additional_result_filter><const/></additional_result_filter>
                <parallel_replicas_custom_key><const/></parallel_replicas_custom_key>
            </constraints>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <profile>default</profile>
            <quota>default</quota>
            <grants>
                <query>GRANT SHOW, SELECT, INSERT, ALTER, CREATE DATABASE, CREATE TABLE, CREATE VIEW, CREATE TEMPORARY TABLE, DROP DATABASE, DROP TABLE, DROP VIEW, TRUNCATE, OPTIMIZE, CHECK ON *.*</query>
                <query>REVOKE ALTER FREEZE PARTITION, ALTER FETCH PARTITION, ALTER MOVE PARTITION, ALTER EXECUTE ON *.*</query>
                <query>GRANT TABLE ENGINE ON MergeTree, TABLE ENGINE ON ReplacingMergeTree, TABLE ENGINE ON SummingMergeTree, TABLE ENGINE ON AggregatingMergeTree, TABLE ENGINE ON CollapsingMergeTree, TABLE ENGINE ON VersionedCollapsingMergeTree, TABLE ENGINE ON GraphiteMergeTree, TABLE ENGINE ON Memory, TABLE ENGINE ON Null, TABLE ENGINE ON Buffer, TABLE ENGINE ON Set, TABLE ENGINE ON Join, TABLE ENGINE ON Log, TABLE ENGINE ON TinyLog, TABLE ENGINE ON StripeLog, TABLE ENGINE ON Merge</query>
            </grants>
        </default>
    </users>
    <quotas><default></default></quotas>
</clickhouse>
`))
