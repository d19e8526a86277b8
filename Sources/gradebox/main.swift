import GradeboxCLI

gradeboxMain()
