package keys

import "slices"

// AllowsResource reports whether one of the key's resource patterns matches
// id. A pattern is literal text in which '*' matches any run of characters,
// including none and including ':' (there is no '?', no class, no escape):
// "gate:exit-*" matches "gate:exit-1", "locker:A-*" matches "locker:A-03",
// "*" matches every resource. Matching is byte-wise and case-sensitive. An
// empty id matches nothing.
func (c Claims) AllowsResource(id string) bool {
	if id == "" {
		return false
	}
	for _, p := range c.Resources {
		if MatchResource(p, id) {
			return true
		}
	}
	return false
}

// AllowsAction reports whether the key lists action a.
func (c Claims) AllowsAction(a string) bool {
	return slices.Contains(c.Actions, a)
}

// MatchResource reports whether pattern matches id with the rules of
// AllowsResource. It runs in O(len(pattern)·len(id)) at worst.
func MatchResource(pattern, id string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // last '*' in pattern, and where in id it started matching
	for i < len(id) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == id[i]:
			p++
			i++
		case star >= 0:
			// Let the last '*' swallow one more byte and retry.
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
