package emsim

// shapePage cuts a page out of window, the rows selected for it starting
// shift rows early: the page is the window's first pageSize rows, and what
// lies beyond was pushed off its end. It applies the fault's EmptyPage and
// notes which entities the writer corrupts; the Tampering it returns lacks
// the request's details.
func shapePage[T any](window []T, q queryRequest, shift int, f Fault, uid func(T) string) ([]T, Tampering) {
	var t Tampering
	page := window[:min(len(window), q.pageSize)]
	t.Duplicated = uids(page[:min(shift, len(page))], uid)
	t.Dropped = uids(window[len(page):], uid)
	if f.EmptyPage {
		t.Dropped = uids(page, uid)
		return nil, t
	}
	if q.entities {
		for i, e := range page {
			if f.Corrupt.kindAt(i) != intact {
				t.Corrupted = append(t.Corrupted, uid(e))
			}
		}
	}
	return page, t
}

func uids[T any](entities []T, uid func(T) string) []string {
	if len(entities) == 0 {
		return nil
	}
	out := make([]string, len(entities))
	for i, e := range entities {
		out[i] = uid(e)
	}
	return out
}
