package httpauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// AuthRequest is the JSON body POSTed to AuthURL.
type AuthRequest struct {
	ClientID string `json:"clientid"`
	Username string `json:"username"`
	Password string `json:"password"`
	Remote   string `json:"remote"`
	Listener string `json:"listener"`
}

// ACLRequest is the JSON body POSTed to ACLURL. Topic is a topic name
// for Access "write" (a publish) and a topic filter, wildcards and
// $share prefix included, for "read" (a subscription).
type ACLRequest struct {
	ClientID string `json:"clientid"`
	Username string `json:"username"`
	Remote   string `json:"remote"`
	Listener string `json:"listener"`
	Topic    string `json:"topic"`
	Access   string `json:"access"`
}

// Response is the JSON body the backend answers with; Result is "allow"
// or "deny" (in any case). Other fields are ignored.
type Response struct {
	Result string `json:"result"`
}

// maxBody bounds what is read of an answer: a decision is a few bytes,
// and a backend that sends megabytes is not answering the question.
const maxBody = 4 << 10

// errMalformed is an answer that is neither allow nor deny.
var errMalformed = errors.New("the answer is neither allow nor deny")

// post asks endpoint with body and returns the backend's decision, or why
// there is none.
func (h *Hook) post(ctx context.Context, endpoint string, body any) (allow bool, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return false, err
	}
	for k, vs := range h.opts.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/plain")
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return false, err
	}
	// Drain a little more so that the connection can be reused; give up
	// on it past that.
	_, _ = io.CopyN(io.Discard, resp.Body, maxBody)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, fmt.Errorf("status %s", resp.Status)
	}
	if len(data) > maxBody {
		return false, fmt.Errorf("%w: longer than %d bytes", errMalformed, maxBody)
	}
	return parseAnswer(data)
}

// parseAnswer reads a 2xx body: {"result":"allow"|"deny"} or the bare
// words allow or deny. Anything else, an empty body included, is no
// answer: a proxy or a catch-all route answering 200 must not let
// clients in.
func parseAnswer(data []byte) (allow bool, err error) {
	text := strings.TrimSpace(string(data))
	if strings.HasPrefix(text, "{") {
		var r Response
		if err := json.Unmarshal([]byte(text), &r); err != nil {
			return false, fmt.Errorf("%w: %v", errMalformed, err)
		}
		text = r.Result
	}
	switch {
	case strings.EqualFold(text, "allow"):
		return true, nil
	case strings.EqualFold(text, "deny"):
		return false, nil
	}
	return false, fmt.Errorf("%w: %.64q", errMalformed, text)
}
