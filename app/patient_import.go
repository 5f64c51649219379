package app

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"securemessages/store"
)

// ImportView is the patient import page: the upload form, or an upload's preview (each row with
// what will become of it, or its problem) and the button that confirms it.
type ImportView struct {
	Preview   *store.PatientImport // nil: the upload form
	Action    string               // where the preview's confirmation posts
	Good      int                  // rows that will be invited
	Bad       int
	Known     int
	Problems  Problems
	Done      string
	CSRFToken string
	MaxRows   int
}

// importShow shows the upload form.
func (a *App) importShow(c *fiber.Ctx) error {
	return a.showImport(c, fiber.StatusOK, a.importView(c))
}

func (a *App) importView(c *fiber.Ctx) *ImportView {
	return &ImportView{CSRFToken: maskCSRF(session(c).CSRFToken), MaxRows: store.MaxImportRows}
}

func (a *App) showImport(c *fiber.Ctx, status int, iv *ImportView) error {
	vd := a.newViewData(c, "Import patients")
	vd.Practice = session(c).Practice
	vd.Import = iv
	return a.render(c, view{status: status, page: "pages/import", data: vd, fragment: "partials/import", fragmentData: iv})
}

// importUpload reads the file and keeps it for the preview: a file that is not the import's CSV
// is refused (422) with why, and nothing is kept.
func (a *App) importUpload(c *fiber.Ctx) error {
	iv := a.importView(c)
	refuse := func(msg string) error {
		iv.Problems = Problems{"file": msg}
		return a.showImport(c, fiber.StatusUnprocessableEntity, iv)
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return refuse("Choose a CSV file to import.")
	}
	f, err := fh.Open()
	if err != nil {
		return refuse("The file could not be read. Please choose it again.")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64*1024))
	if err != nil {
		return refuse("The file could not be read. Please choose it again.")
	}
	rows, err := store.ParsePatientCSV(bytes.NewReader(data), time.Now())
	var bad *store.CSVError
	if errors.As(err, &bad) {
		return refuse(bad.Msg)
	}
	if err != nil {
		return err
	}
	id, err := a.store.UploadPatientImport(c.UserContext(), session(c).User, rows)
	if errors.Is(err, store.ErrNotAllowed) {
		return errNotAdministrator
	}
	if err != nil {
		return err
	}
	return c.Redirect("/practice/import/"+id, fiber.StatusSeeOther)
}

// importPreview shows an upload of the practice's, before and after its confirmation.
func (a *App) importPreview(c *fiber.Ctx) error {
	p, err := a.store.PatientImportPreview(c.UserContext(), session(c).User, c.Params("id"))
	if err := importError(err); err != nil {
		return err
	}
	iv := a.previewView(c, p)
	if n, err := strconv.Atoi(c.Query("invited")); err == nil && p.Confirmed {
		iv.Done = invitedText(n)
	}
	if isFragment(c) {
		c.Set("HX-Push-Url", "/practice/import/"+p.ID)
	}
	return a.showImport(c, fiber.StatusOK, iv)
}

func (a *App) previewView(c *fiber.Ctx, p store.PatientImport) *ImportView {
	iv := a.importView(c)
	iv.Preview, iv.Action = &p, "/practice/import/"+p.ID
	iv.Good, iv.Bad, iv.Known = p.Counts()
	return iv
}

func invitedText(n int) string {
	if n == 1 {
		return "Imported: 1 patient was invited."
	}
	return "Imported: " + strconv.Itoa(n) + " patients were invited."
}

// importConfirm imports the good rows of an upload, once.
func (a *App) importConfirm(c *fiber.Ctx) error {
	p, n, err := a.store.ConfirmPatientImport(c.UserContext(), session(c).User, a.origin(c), c.Params("id"))
	if err := importError(err); err != nil {
		return err
	}
	if !isFragment(c) {
		return c.Redirect("/practice/import/"+p.ID+"?invited="+strconv.Itoa(n), fiber.StatusSeeOther)
	}
	iv := a.previewView(c, p)
	iv.Done = invitedText(n)
	return a.showImport(c, fiber.StatusOK, iv)
}

// importError turns the store's refusals of an upload into answers.
func importError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotAllowed):
		return errNotAdministrator
	case errors.Is(err, store.ErrNotFound):
		return notFoundError("That upload was not found at this practice. Upload the file again.")
	case errors.Is(err, store.ErrNoLongerApplies):
		return fiber.NewError(fiber.StatusConflict, "This file was imported already, so nobody was invited again.")
	case errors.Is(err, store.ErrImportExpired):
		return fiber.NewError(fiber.StatusGone, "This upload waited more than an hour and has expired, so nothing was imported. Upload the file again.")
	}
	return err
}
