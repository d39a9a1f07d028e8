// Package all imports every collector kind so each registers itself.
package all

import (
	_ "github.com/ace-collector/ace-collector/collectors/email"     // kind email
	_ "github.com/ace-collector/ace-collector/collectors/estreamer" // kind estreamer
	_ "github.com/ace-collector/ace-collector/collectors/eve"       // kind eve
	_ "github.com/ace-collector/ace-collector/collectors/filedrop"  // kind filedrop
	_ "github.com/ace-collector/ace-collector/collectors/hunter"    // kind hunter
	_ "github.com/ace-collector/ace-collector/collectors/ingest"    // kind ingest
	_ "github.com/ace-collector/ace-collector/collectors/pcap"      // kind pcap
	_ "github.com/ace-collector/ace-collector/collectors/smtp"      // kind smtp
	_ "github.com/ace-collector/ace-collector/collectors/syslog"    // kind syslog
)
