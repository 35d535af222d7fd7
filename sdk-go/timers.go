package timers

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

const apiPath = "/api/v1"

func timersPath(namespace string) (string, error) {
	if namespace == "" {
		return "", sdkError("the namespace must not be empty")
	}

	return apiPath + "/namespaces/" + url.PathEscape(namespace) + "/timers", nil
}

func timerPath(namespace, id string) (string, error) {
	base, err := timersPath(namespace)
	if err != nil {
		return "", err
	}

	if id == "" {
		return "", sdkError("the timer id must not be empty")
	}

	return base + "/" + url.PathEscape(id), nil
}

// CreateTimer creates a timer in namespace, created on first use.
//
// If the id already holds a timer with the same definition, the answer is
// that timer, unchanged, and it does not fire again: so the call is retried
// after a connection error or a 503. If the id holds a different timer, the
// error has the code already_exists and carries the stored timer in
// Error.Existing.
func (c *Client) CreateTimer(ctx context.Context, namespace string, req CreateTimerRequest) (*Timer, error) {
	path, err := timersPath(namespace)
	if err != nil {
		return nil, err
	}

	request := call{method: http.MethodPost, path: path, body: createToWire(req), repeatable: true}
	var wire wireTimer
	if err := c.send(ctx, request, &wire); err != nil {
		return nil, err
	}

	return decodedTimer(&wire)
}

// BatchCreateTimers creates up to 1,000 timers in one request. Each item is
// judged as CreateTimer would judge it, and has its own outcome in the
// result, in the order of reqs: an item that fails does not stop the others.
// The error is non-nil only when the batch as a whole was refused.
func (c *Client) BatchCreateTimers(
	ctx context.Context, namespace string, reqs []CreateTimerRequest,
) (*BatchCreateResult, error) {
	path, err := timersPath(namespace)
	if err != nil {
		return nil, err
	}

	body := wireBatchCreate{Timers: make([]wireCreate, len(reqs))}
	for i, req := range reqs {
		body.Timers[i] = createToWire(req)
	}

	request := call{method: http.MethodPost, path: path + ":batchCreate", body: body, repeatable: true}
	var wire wireBatchResult
	if err := c.send(ctx, request, &wire); err != nil {
		return nil, err
	}

	result := &BatchCreateResult{Results: make([]*BatchCreateItem, len(wire.Results))}
	for i, item := range wire.Results {
		entry := &BatchCreateItem{Status: item.Status}
		switch {
		case item.Error != nil:
			entry.Error = errorFromWire(item.Status, item.Error)
		case item.Timer != nil:
			if entry.Timer, err = decodedTimer(item.Timer); err != nil {
				return nil, err
			}
		default:
			return nil, sdkError("batch create: result %d has neither a timer nor an error", i)
		}

		result.Results[i] = entry
	}

	return result, nil
}

// GetTimer returns one timer; the error code not_found says there is none.
func (c *Client) GetTimer(ctx context.Context, namespace, id string) (*Timer, error) {
	path, err := timerPath(namespace, id)
	if err != nil {
		return nil, err
	}

	request := call{method: http.MethodGet, path: path, repeatable: true}
	var wire wireTimer
	if err := c.send(ctx, request, &wire); err != nil {
		return nil, err
	}

	return decodedTimer(&wire)
}

// UpdateTimer changes a timer and returns it as changed.
//
// With an ExpectedVersion, the update applies only to that version (else the
// error code is precondition_failed), and it is retried after a connection
// error or a 503, since it cannot apply twice; if a retry follows an attempt
// that did apply, the retry reports precondition_failed. Without one it is
// sent once.
func (c *Client) UpdateTimer(ctx context.Context, namespace, id string, req UpdateTimerRequest) (*Timer, error) {
	path, err := timerPath(namespace, id)
	if err != nil {
		return nil, err
	}

	request := call{method: http.MethodPatch, path: path, body: updateToWire(req)}
	if req.ExpectedVersion != 0 {
		request.ifMatch = strconv.Quote(strconv.FormatInt(req.ExpectedVersion, 10))
		request.repeatable = true
	}

	var wire wireTimer
	if err := c.send(ctx, request, &wire); err != nil {
		return nil, err
	}

	return decodedTimer(&wire)
}

// DeleteTimer deletes a timer, which will not fire again (a delivery already
// in flight may still arrive once). It returns only an error, as the service
// answers 204 with no body.
//
// A delete is retried after a connection error or a 503; if the attempt
// before did delete the timer, the retry reports not_found, which callers
// that only need the timer gone may take as success.
func (c *Client) DeleteTimer(ctx context.Context, namespace, id string) error {
	path, err := timerPath(namespace, id)
	if err != nil {
		return err
	}

	return c.send(ctx, call{method: http.MethodDelete, path: path, repeatable: true}, nil)
}

// ListTimers returns one page of the timers of namespace that pass the
// filters of req, ordered by fire time, then id. Give the page's
// NextPageToken as req.PageToken for the next page, or use AllTimers.
func (c *Client) ListTimers(ctx context.Context, namespace string, req ListTimersRequest) (*TimerPage, error) {
	path, err := timersPath(namespace)
	if err != nil {
		return nil, err
	}

	request := call{method: http.MethodGet, path: path, query: listQuery(req), repeatable: true}
	var wire wirePage
	if err := c.send(ctx, request, &wire); err != nil {
		return nil, err
	}

	page := &TimerPage{Timers: make([]*Timer, len(wire.Timers))}
	for i := range wire.Timers {
		if page.Timers[i], err = decodedTimer(&wire.Timers[i]); err != nil {
			return nil, err
		}
	}

	if wire.NextPageToken != nil {
		page.NextPageToken = *wire.NextPageToken
	}

	return page, nil
}

// AllTimers iterates over every timer that passes the filters of req, page
// after page (req.Limit sets the page size), following the page tokens. On a
// failure it yields the error once and stops; breaking out of the loop stops
// the requests.
//
//	for timer, err := range client.AllTimers(ctx, "shop", timers.ListTimersRequest{}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(timer.ID)
//	}
func (c *Client) AllTimers(
	ctx context.Context, namespace string, req ListTimersRequest,
) iter.Seq2[*Timer, error] {
	return func(yield func(*Timer, error) bool) {
		for {
			page, err := c.ListTimers(ctx, namespace, req)
			if err != nil {
				yield(nil, err)
				return
			}

			for _, timer := range page.Timers {
				if !yield(timer, nil) {
					return
				}
			}

			if page.NextPageToken == "" {
				return
			}

			// A token that does not move would make the loop endless.
			if page.NextPageToken == req.PageToken {
				yield(nil, sdkError("list timers: the service gave the same page token twice"))
				return
			}

			req.PageToken = page.NextPageToken
		}
	}
}

// Attempts returns the recent delivery attempts of a timer, newest first.
func (c *Client) Attempts(ctx context.Context, namespace, id string) (*AttemptList, error) {
	path, err := timerPath(namespace, id)
	if err != nil {
		return nil, err
	}

	request := call{method: http.MethodGet, path: path + "/attempts", repeatable: true}
	var wire wireAttempts
	if err := c.send(ctx, request, &wire); err != nil {
		return nil, err
	}

	list := &AttemptList{Attempts: make([]*Attempt, len(wire.Attempts))}
	for i := range wire.Attempts {
		if list.Attempts[i], err = wire.Attempts[i].toAttempt(); err != nil {
			return nil, sdkError("attempts: %w", err)
		}
	}

	return list, nil
}

// ListNamespaces returns every namespace with the count of its timers in
// each status.
func (c *Client) ListNamespaces(ctx context.Context) (*NamespaceList, error) {
	request := call{method: http.MethodGet, path: apiPath + "/namespaces", repeatable: true}
	var wire wireNamespaces
	if err := c.send(ctx, request, &wire); err != nil {
		return nil, err
	}

	list := &NamespaceList{Namespaces: make([]*Namespace, len(wire.Namespaces))}
	for i, entry := range wire.Namespaces {
		counts := make(map[Status]int, len(entry.Counts))
		for status, count := range entry.Counts {
			counts[Status(status)] = count
		}

		list.Namespaces[i] = &Namespace{Name: entry.Name, Counts: counts}
	}

	return list, nil
}

func listQuery(req ListTimersRequest) url.Values {
	query := url.Values{}
	for _, status := range req.Statuses {
		query.Add("status", string(status))
	}

	if !req.FireAfter.IsZero() {
		query.Set("fire_after", formatTime(req.FireAfter))
	}

	if !req.FireBefore.IsZero() {
		query.Set("fire_before", formatTime(req.FireBefore))
	}

	if req.IDPrefix != "" {
		query.Set("id_prefix", req.IDPrefix)
	}

	if req.Limit != 0 {
		query.Set("limit", strconv.Itoa(req.Limit))
	}

	if req.PageToken != "" {
		query.Set("page_token", req.PageToken)
	}

	return query
}

func decodedTimer(wire *wireTimer) (*Timer, error) {
	timer, err := wire.toTimer()
	if err != nil {
		return nil, sdkError("the timer in the answer is not valid: %w", err)
	}

	return timer, nil
}
