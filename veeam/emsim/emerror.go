package emsim

import (
	"net/http"
	"strings"
)

// emStatusNames are the Status attribute values of EM's Error document:
// .NET's HttpStatusCode names.
var emStatusNames = map[int]string{
	http.StatusBadRequest:          "BadRequest",
	http.StatusUnauthorized:        "Unauthorized",
	http.StatusForbidden:           "Forbidden",
	http.StatusNotFound:            "NotFound",
	http.StatusMethodNotAllowed:    "MethodNotAllowed",
	http.StatusInternalServerError: "InternalServerError",
	http.StatusNotImplemented:      "NotImplemented",
	http.StatusServiceUnavailable:  "ServiceUnavailable",
}

func emStatusName(code int) string {
	if name, ok := emStatusNames[code]; ok {
		return name
	}
	return strings.ReplaceAll(http.StatusText(code), " ", "")
}

// writeError answers with an EM Error document.
func (s *Server) writeError(ex *exchange, code int, message string) {
	ex.w.Header().Set("Content-Type", contentXML)
	ex.w.WriteHeader(code)
	x := newXMLWriter(ex.body)
	x.raw(xmlHeader)
	x.open("Error")
	x.attr("xmlns", emNamespace)
	x.attr("Message", message)
	x.attr("StatusCode", itoa(code))
	x.attr("Status", emStatusName(code))
	x.closeEmpty()
	s.finish(ex, x)
}

// finish flushes a streamed body. A failed write means the client went
// away; it is logged, as nothing else can be done about it.
func (s *Server) finish(ex *exchange, x xmlWriter) bool {
	if err := x.flush(); err != nil {
		ex.writeErr = err
		return false
	}
	return true
}
