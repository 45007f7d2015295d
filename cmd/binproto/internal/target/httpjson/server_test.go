package httpjson

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServerRejectsBadRequests(t *testing.T) {
	srv := httptest.NewServer(NewHandler())
	defer srv.Close()
	post := func(path, body string, header bool) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		if header {
			req.Header.Set(ClientHeader, "t")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		path, body string
		header     bool
		want       int
	}{
		{"/sensor", "not json", true, http.StatusBadRequest},
		{"/echo", `{"data": "!!!"}`, true, http.StatusBadRequest},
		{"/send", `{"data": "AAEC"}`, false, http.StatusBadRequest},
		{"/count", `{}`, false, http.StatusBadRequest},
		{"/send", `{"data": "AAEC"}`, true, http.StatusNoContent},
		{"/nope", `{}`, true, http.StatusNotFound},
	}
	for _, c := range cases {
		if got := post(c.path, c.body, c.header); got != c.want {
			t.Errorf("POST %s %q: status %d, want %d", c.path, c.body, got, c.want)
		}
	}
	resp, err := http.Get(srv.URL + "/sensor")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /sensor: status %d", resp.StatusCode)
	}
}
