package app

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"securemessages/store"
)

// auditExportTimeout bounds how long one export may stream: the stream runs after the handler
// has returned, outside the request's own context.
const auditExportTimeout = 5 * time.Minute

// auditExport streams what the review's search finds, every page of it, as CSV. It is a POST
// (with the CSRF check) because it records something: the store writes the export's audit row,
// with its filters, before a row is read. A search the form cannot mean is refused as the
// review refuses it, 422 with the form as typed, and exports and records nothing.
func (a *App) auditExport(c *fiber.Ctx) error {
	form := auditForm(c)
	q, problems := a.auditSearch(form)
	var export store.AuditExport
	var err error
	if len(problems) == 0 {
		export, err = a.store.ExportAudit(c.UserContext(), session(c).User, a.origin(c), q)
	}
	var invalid *store.ValidationError
	switch {
	case errors.As(err, &invalid):
		problems = invalid.Fields
	case errors.Is(err, store.ErrNotAllowed):
		return errNotAuditReviewer
	case err != nil:
		return err
	}
	if len(problems) > 0 {
		av, err := a.auditView(c, form)
		if err != nil {
			return err
		}
		av.Problems = problems
		return a.showAudit(c, fiber.StatusUnprocessableEntity, av)
	}

	zone := a.practiceZone(c)
	ids := a.ids
	log, requestID := a.log, utils.CopyString(requestID(c))
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit-log-`+time.Now().In(zone).Format(time.DateOnly)+`.csv"`)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), auditExportTimeout)
		defer cancel()
		out := csv.NewWriter(w)
		write := func(cells ...string) error {
			for i := range cells {
				cells[i] = csvSafe(cells[i])
			}
			if err := out.Write(cells); err != nil {
				return err
			}
			out.Flush()
			return out.Error()
		}
		if err := write("time", "time zone", "who", "who is", "action", "what", "outcome", "patient", "client address", "request"); err != nil {
			return
		}
		err := export(ctx, func(e store.AuditEntry) error {
			patient := ""
			if e.PatientID != 0 {
				patient = e.PatientName + " (" + ids.User(e.PatientID) + ")"
			}
			return write(e.At.In(zone).Format("2006-01-02 15:04:05"), zone.String(), e.ActorName, string(e.ActorRole),
				e.Action, e.Wording(), e.Outcome, patient, e.ClientIP, e.RequestID)
		})
		if err != nil {
			// The status has gone; the file ends short, and the operator learns why.
			log.Error("audit export failed", "request_id", requestID, "error", err.Error())
		}
	})
	return nil
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet (CSV injection): a cell
// that starts with = + - @, or a tab or carriage return, is prefixed with a quote, which the
// spreadsheet shows as text. The names in a row are people's own, typed by whoever made them.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
