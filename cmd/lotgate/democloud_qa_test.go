package main

import (
	"regexp"
	"testing"
	"time"
)

// After `make run`, stop, `make run` again (same store), the demo cloud
// starts with an empty memory: it waits for seq 1, which never comes again,
// so it never acknowledges an event (cloud_silent after 60 s, the outbox
// grows), its checkout page lists no session, and /receipt refuses every
// session opened since ("no open session").
func TestQADemoCloudAfterRestart(t *testing.T) {
	cfg := exampleSite(t)
	p, logs1 := startGatewayLogged(t, cfg)
	p.do("car in-1", `car on lane in-1`)
	p.do("ticket in-1", `ticket in-1-ticket`)
	p.do("gone in-1", `car gone`)
	addr := httpAddr(t, logs1)
	acked := false
	for i := 0; i < 200 && !acked; i++ { // until the demo cloud has acknowledged something
		_, m := httpDo(t, "GET", "http://"+addr+"/metrics", "", "")
		acked = regexp.MustCompile(`lotgate_cloud_acked_seq [1-9]`).MatchString(m)
		time.Sleep(20 * time.Millisecond)
	}
	if !acked {
		t.Fatal("the demo cloud acknowledged nothing in the first run")
	}
	p.stop()

	p, logs := startGatewayLogged(t, cfg)
	p.do("car in-1", `car on lane in-1`)
	p.do("ticket in-1", `ticket in-1-ticket`)
	p.do("gone in-1", `car gone`)
	id := regexp.MustCompile(`s-\w+`).FindAllString(p.do("sessions", `(?s)s-\w+.*s-\w+ .*`), -1)
	pages := regexp.MustCompile(`checkout page" .*url=(\S+)`).FindAllStringSubmatch(logs.String(), -1)
	var page []string
	if len(pages) > 0 {
		page = pages[len(pages)-1]
	}
	if page == nil || len(id) != 2 {
		t.Fatalf("no checkout page in the logs or not two sessions: %v", id)
	}
	var code int
	var body string
	for i := 0; i < 100; i++ { // the demo cloud learns of sessions from up/events
		code, body = httpDo(t, "GET", page[len(page)-1]+"receipt?session="+id[1]+"&amount=150", "", "")
		if code == 200 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("demo /receipt for a session opened after a restart: %d %q; want a receipt", code, body)
}
