return { description = "empty", categories = {"safe"}, run = function() end }
