// Package all imports every group type so each registers itself.
package all

import (
	_ "github.com/ace-collector/ace-collector/groups/ace"      // type ace
	_ "github.com/ace-collector/ace-collector/groups/filedrop" // type filedrop
	_ "github.com/ace-collector/ace-collector/groups/http"     // type http
	_ "github.com/ace-collector/ace-collector/groups/smtp"     // type smtp
	_ "github.com/ace-collector/ace-collector/groups/syslog"   // type syslog
)
